// Checks a document proof answer in the browser: RFC 8785 (JCS) canonical JSON, RFC 9162 Merkle proofs, C2SP
// signed notes and vkeys, strict Ed25519, and the lifeledger payload commitment. No network, no DOM: the page
// (verify.js) feeds it the answer of GET /v1/documents/{digest}/proof and the published verifier key.

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { ed25519 } from "@noble/curves/ed25519.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const LEDGER_KEY_ID = "ledger"; // document events are signed by the ledger's own key, the key that signs checkpoints
const SIGNATURE_PREFIX = "\u2014 "; // em dash, space: a C2SP signature line
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** A check that did not pass; its message says what was wrong, in plain (English) technical words. */
export class CheckFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "CheckFailed";
  }
}

function fail(message) {
  throw new CheckFailed(message);
}

// -- bytes --------------------------------------------------------------------------------------------------

export function utf8(text) {
  return encoder.encode(text);
}

export function fromUtf8(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return fail("the bytes are not valid UTF-8");
  }
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) fail("not lowercase hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard, padded base64 only (what C2SP and RFC 9162 use); anything else is refused. */
export function fromBase64(text, what = "base64") {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    fail(`${what} is not standard padded base64`);
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  if (toBase64(out) !== text) fail(`${what} is not canonical base64`);
  return out;
}

export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function sha256(bytes) {
  return nobleSha256(bytes);
}

/** `sha256:<hex>` of a 32-byte digest. */
export function digestString(bytes) {
  return `sha256:${toHex(bytes)}`;
}

// -- RFC 8785 (JCS) -------------------------------------------------------------------------------------------

/**
 * The RFC 8785 canonical JSON text of a parsed JSON value: object members sorted by the UTF-16 code units of their
 * names (what Array.prototype.sort does with strings), strings and numbers written as JSON.stringify writes them
 * (the ECMAScript forms RFC 8785 adopts), no whitespace. Throws CheckFailed for what JSON cannot hold.
 */
export function jcs(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) fail("JCS: numbers must be finite");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
      const names = Object.keys(value).sort();
      return `{${names.map((name) => `${JSON.stringify(name)}:${jcs(value[name])}`).join(",")}}`;
    }
    default:
      return fail(`JCS: a ${typeof value} is not JSON`);
  }
}

// -- RFC 9162 Merkle tree -------------------------------------------------------------------------------------

export function leafHash(leaf) {
  return sha256(concat(Uint8Array.of(0), leaf));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

const half = (n) => Math.floor(n / 2);
const odd = (n) => n % 2 === 1;

function checkHashes(hashes, what) {
  if (!Array.isArray(hashes)) fail(`${what}: hashes must be a list`);
  return hashes.map((h, i) => {
    const bytes = h instanceof Uint8Array ? h : fromBase64(h, `${what} hash ${i}`);
    if (bytes.length !== 32) fail(`${what}: hash ${i} is ${bytes.length} bytes, not 32`);
    return bytes;
  });
}

function checkSize(n, what) {
  if (!Number.isSafeInteger(n) || n < 0) fail(`${what} must be a whole number, got ${n}`);
}

/** The root an RFC 9162 §2.1.3.2 inclusion proof leads to from `leaf` (a leaf hash) at `index` in `treeSize`. */
export function rootFromInclusion({ index, treeSize, leaf, hashes }) {
  checkSize(index, "index");
  checkSize(treeSize, "tree size");
  if (index >= treeSize) fail(`index ${index} is not in a tree of ${treeSize}`);
  const path = checkHashes(hashes, "inclusion proof");
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) fail("the inclusion proof is longer than the tree allows");
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail("the inclusion proof is shorter than the tree needs");
  return r;
}

/** Throws CheckFailed unless the inclusion proof leads from `leaf` to `root`. */
export function verifyInclusion({ index, treeSize, leaf, hashes, root }) {
  if (!equalBytes(rootFromInclusion({ index, treeSize, leaf, hashes }), root)) {
    fail(`the inclusion proof of entry ${index} does not lead to the root of the ${treeSize}-entry tree`);
  }
}

function powerOfTwo(n) {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

/** RFC 9162 §2.1.4.2: throws CheckFailed unless the tree of `first` entries is a prefix of the one of `second`. */
export function verifyConsistency({ first, second, firstRoot, secondRoot, hashes }) {
  checkSize(first, "first");
  checkSize(second, "second");
  const proof = checkHashes(hashes, "consistency proof");
  if (first < 1 || first > second) fail(`no consistency proof goes from ${first} to ${second} entries`);
  if (first === second) {
    if (proof.length !== 0) fail("a consistency proof between equal trees must be empty");
    if (!equalBytes(firstRoot, secondRoot)) fail(`two trees of ${first} entries have different roots`);
    return;
  }
  if (proof.length === 0) fail("the consistency proof is empty");
  const path = powerOfTwo(first) ? [firstRoot, ...proof] : proof;
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) fail("the consistency proof is longer than the trees allow");
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail("the consistency proof is shorter than the trees need");
  if (!equalBytes(fr, firstRoot)) fail(`the consistency proof does not lead to the ${first}-entry root`);
  if (!equalBytes(sr, secondRoot)) fail(`the consistency proof does not lead to the ${second}-entry root`);
}

// -- Ed25519, C2SP vkeys, signed notes and checkpoints ---------------------------------------------------------

/**
 * Strict Ed25519 (as the ledger verifies): canonical encodings, a public key in the prime-order subgroup, R not of
 * small order, S < L, the cofactored equation. Returns true or false; never throws.
 */
export function verifyEd25519(publicKey, message, signature) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  try {
    const key = ed25519.Point.fromBytes(publicKey, false);
    if (key.isSmallOrder() || !key.isTorsionFree()) return false;
    if (ed25519.Point.fromBytes(signature.subarray(0, 32), false).isSmallOrder()) return false;
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

function checkKeyName(name) {
  if (!name || /[\s+]/u.test(name) || /[\u0000-\u001f]/.test(name)) fail(`${JSON.stringify(name)} is not a key name`);
}

/** A C2SP vkey `<name>+<hex key id>+<base64(0x01 || public key)>`, its key id checked. */
export function parseVkey(vkey) {
  if (typeof vkey !== "string") fail("the verifier key must be text");
  // <name>+<id>+<key>: the name and the id hold no "+", the base64 key may.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) fail("a verifier key is <name>+<key id>+<key>");
  const [name, idHex, keyText] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail("the verifier key's id is not 8 lowercase hex digits");
  const typed = fromBase64(keyText, "the verifier key");
  if (typed.length !== 33 || typed[0] !== 0x01) fail("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  const keyId = sha256(concat(utf8(name), utf8("\n"), typed)).subarray(0, 4);
  if (toHex(keyId) !== idHex) fail("the verifier key's id does not match its name and key");
  return { name, keyId, publicKey: typed.subarray(1), text: vkey };
}

/** The text of a C2SP signed note that carries a good signature by `key`; throws CheckFailed otherwise. */
export function verifyNote(note, key) {
  if (typeof note !== "string" || !note.endsWith("\n")) fail("a signed note is text ending in a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("the signed note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let signed = false;
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) fail("a signature line does not start with an em dash and a space");
    const [name, encoded, ...rest] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (rest.length !== 0 || encoded === undefined) fail("a signature line is not '— <name> <signature>'");
    if (name !== key.name) continue;
    const blob = fromBase64(encoded, "a note signature");
    if (blob.length !== 68 || !equalBytes(blob.subarray(0, 4), key.keyId)) continue;
    if (!verifyEd25519(key.publicKey, utf8(text), blob.subarray(4))) fail(`the signature by ${key.name} is not valid`);
    signed = true;
  }
  if (!signed) fail(`the note carries no signature by ${key.name}`);
  return text;
}

/** A C2SP tlog-checkpoint body: origin, tree size, root (extension lines are not used by this log). */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") fail("a checkpoint is three lines: origin, size, root");
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    fail(`the checkpoint's size ${JSON.stringify(sizeText)} is not a whole number`);
  }
  const root = fromBase64(rootText, "the checkpoint's root");
  if (root.length !== 32) fail("the checkpoint's root is not 32 bytes");
  return { origin, size: Number(sizeText), root };
}

/** A signed checkpoint: the note checked with `key`, its origin the key's name. */
export function verifyCheckpoint(note, key) {
  const checkpoint = parseCheckpoint(verifyNote(note, key));
  if (checkpoint.origin !== key.name) fail(`the checkpoint's origin ${checkpoint.origin} is not ${key.name}`);
  return checkpoint;
}

// -- journal entries and payload openings ----------------------------------------------------------------------

/** `SHA-256(salt || JCS({"data_subject", "payload"}))` for a statement of version 2, `SHA-256(salt || JCS(payload))`
 * for version 1. */
export function payloadCommitment({ salt, payload, dataSubject, version }) {
  const committed = version === 2 ? { data_subject: dataSubject, payload } : payload;
  return sha256(concat(salt, utf8(jcs(committed))));
}

/**
 * One document entry of the answer, opened: its leaf parsed, the payload opening checked against the statement's
 * payload_hash. Returns { index, leaf, leafHash, record, statement, payload, recordedAt }.
 */
export function openEntry(entry) {
  if (!entry || typeof entry !== "object") fail("the entry is missing");
  checkSize(entry.index, "the entry's index");
  const leaf = fromBase64(entry.leaf, "the leaf");
  let record;
  try {
    record = JSON.parse(fromUtf8(leaf));
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    fail("the leaf is not JSON");
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) fail("the leaf is not an entry record");
  if (jcs(record) !== fromUtf8(leaf)) fail("the leaf is not in RFC 8785 canonical form");
  const statement = record.statement;
  if (!statement || typeof statement !== "object" || !DIGEST.test(statement.payload_hash ?? "")) {
    fail("the leaf holds no statement with a payload_hash");
  }
  const version = statement.v === undefined ? 1 : statement.v;
  if (version !== 1 && version !== 2) fail(`statement version ${JSON.stringify(statement.v)} is not known`);
  const opening = entry.opening ?? {};
  const salt = fromBase64(opening.salt, "the salt");
  if (salt.length < 16 || salt.length > 64) fail("the salt is not 16 to 64 bytes");
  if (!opening.payload || typeof opening.payload !== "object" || Array.isArray(opening.payload)) {
    fail("the opening holds no payload object");
  }
  if (typeof opening.data_subject !== "string") fail("the opening names no data subject");
  const commitment = payloadCommitment({ salt, payload: opening.payload, dataSubject: opening.data_subject, version });
  if (digestString(commitment) !== statement.payload_hash) {
    fail("the payload opening does not hash to the payload_hash the entry committed to");
  }
  return { index: entry.index, leaf, leafHash: leafHash(leaf), record, statement, payload: opening.payload,
           recordedAt: record.recorded_at };
}

/** Throws CheckFailed unless the entry's statement is signed, as a document event, by the ledger's key. */
export function verifyEntrySignature(opened, key) {
  const { record, statement } = opened;
  if (record.key_id !== LEDGER_KEY_ID) fail(`the entry is signed by ${record.key_id}, not by the ledger's key`);
  const signature = fromBase64(record.signature, "the entry's signature");
  if (!verifyEd25519(key.publicKey, utf8(jcs(statement)), signature)) {
    fail("the entry's signature does not verify with the insurer's key");
  }
}

// -- the whole answer --------------------------------------------------------------------------------------------

/** The last four characters of a policy number (the part the service shows). */
export function lastFour(policyNo) {
  return typeof policyNo === "string" && policyNo.length >= 4 ? policyNo.slice(-4) : null;
}

function checkChange(opened, answer, digest, registration) {
  const { statement, payload } = opened;
  if (statement.stream !== registration.statement.stream) fail("the status change is on another document's stream");
  if (opened.index <= registration.index) fail("the status change is recorded before the registration");
  if (answer.status === "superseded") {
    if (statement.type !== "document.superseded") fail(`the status change is a ${statement.type}, not a supersession`);
    if (payload.old_digest !== digest) fail("the supersession does not replace this file's fingerprint");
    if (payload.digest !== answer.superseded_by) fail("the supersession names another successor than the answer");
    if (answer.superseded_by_version != null && payload.version !== answer.superseded_by_version) {
      fail("the supersession names another version than the answer");
    }
    return { index: opened.index, at: opened.recordedAt, version: payload.version };
  }
  if (statement.type !== "document.revoked") fail(`the status change is a ${statement.type}, not a revocation`);
  if (payload.digest !== digest) fail("the revocation is of another fingerprint");
  if (answer.revocation && payload.reason_code !== answer.revocation.reason_code) {
    fail("the revocation gives another reason code than the answer");
  }
  return { index: opened.index, at: opened.recordedAt, code: payload.reason_code };
}

/**
 * Check a proof answer about the file whose fingerprint is `digest` (`sha256:<hex>`), with the verifier key the
 * insurer publishes (`publishedVkey`). Returns { verdict, failed, checks, facts }: verdict is "unknown",
 * "unverified" (a check failed or could not be made yet: `failed` names it) or the status the entries prove
 * ("genuine", "superseded", "revoked"); each check is { id, state: ok | failed | pending | info | skipped,
 * params, detail }. Checks run in order and stop at the first that fails; the rest are "skipped".
 */
export function checkDocument(answer, { digest, publishedVkey }) {
  const ORDER = ["fingerprint", "registry", "key", "checkpoint", "registration-entry", "registration-signature",
    "registration-inclusion", "change-entry", "change-signature", "change-inclusion", "anchor"];
  const checks = [];
  const facts = {};
  let stopped = null;
  const record = (id, state, params = {}, detail = "") => checks.push({ id, state, params, detail });
  const run = (id, step) => {
    if (stopped) return undefined;
    try {
      const outcome = step() ?? {};
      record(id, outcome.state ?? "ok", outcome.params ?? {});
      if (outcome.state === "pending") stopped = { id, state: "pending" };
      return outcome.value;
    } catch (error) {
      const detail = error instanceof CheckFailed ? error.message : `unexpected: ${error}`;
      record(id, "failed", {}, detail);
      stopped = { id, state: "failed", detail };
      return undefined;
    }
  };
  const finish = (verdict) => {
    for (const id of ORDER) if (!checks.some((c) => c.id === id)) record(id, "skipped");
    checks.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
    return { verdict: stopped ? "unverified" : verdict, failed: stopped, checks, facts };
  };

  run("fingerprint", () => ({ state: "info", params: { digest } }));
  if (!answer || typeof answer !== "object") {
    run("registry", () => fail("the service's answer is not JSON"));
    return finish("unverified");
  }
  if (answer.status === "unknown") {
    record("registry", "info", {}, "unknown");
    return { verdict: "unknown", failed: null, checks, facts };
  }
  run("registry", () => {
    if (answer.digest !== digest) fail("the answer is about another fingerprint");
    if (!["genuine", "superseded", "revoked"].includes(answer.status)) fail(`unknown status ${answer.status}`);
    if (!answer.proof) fail("the answer carries no proof");
  });
  const proof = answer.proof ?? {};
  const key = run("key", () => {
    const published = parseVkey(publishedVkey);
    if (proof.vkey !== publishedVkey) fail("the answer's verifier key is not the one the insurer publishes");
    return { value: published, params: { name: published.name, keyId: toHex(published.keyId) } };
  });
  const checkpoint = run("checkpoint", () => {
    if (proof.checkpoint == null) return { state: "pending" };
    const found = verifyCheckpoint(proof.checkpoint, key);
    return { value: found, params: { size: found.size } };
  });
  const inclusion = (opened, entry) => {
    if (entry.inclusion == null) return { state: "pending", params: { index: opened.index } };
    if (entry.inclusion.index !== opened.index || entry.inclusion.tree_size !== checkpoint.size) {
      fail("the inclusion proof is for another entry or another tree than the checkpoint's");
    }
    verifyInclusion({ index: opened.index, treeSize: checkpoint.size, leaf: opened.leafHash,
                      hashes: entry.inclusion.hashes, root: checkpoint.root });
    return { params: { index: opened.index, size: checkpoint.size } };
  };

  const registration = run("registration-entry", () => {
    const opened = openEntry(proof.registration);
    const { statement, payload } = opened;
    if (!["document.registered", "document.superseded"].includes(statement.type)) {
      fail(`entry ${opened.index} is a ${statement.type}, not a registration`);
    }
    if (payload.digest !== digest) fail(`entry ${opened.index} registers another fingerprint`);
    if (!Number.isSafeInteger(payload.version) || payload.version < 1) fail("the registration names no version");
    if (answer.version !== payload.version) fail("the answer's version is not the registered one");
    facts.version = payload.version;
    facts.registeredAt = opened.recordedAt;
    return { value: opened, params: { index: opened.index, at: opened.recordedAt, version: payload.version } };
  });
  run("registration-signature", () => {
    verifyEntrySignature(registration, key);
    return { params: { index: registration.index } };
  });
  run("registration-inclusion", () => inclusion(registration, proof.registration));

  if (answer.status === "genuine") {
    run("change-entry", () => {
      if (proof.status_change != null) fail("the answer says genuine but carries a status change");
      return { state: "info" };
    });
    for (const id of ["change-signature", "change-inclusion"]) if (!stopped) record(id, "info");
  } else {
    const change = run("change-entry", () => {
      if (proof.status_change == null) fail(`the answer says ${answer.status} but carries no entry that says so`);
      const opened = openEntry(proof.status_change);
      const params = checkChange(opened, answer, digest, registration);
      facts.changedAt = opened.recordedAt;
      if (params.version !== undefined) facts.supersededByVersion = params.version;
      if (params.code !== undefined) facts.reasonCode = params.code;
      return { value: opened, params };
    });
    run("change-signature", () => {
      verifyEntrySignature(change, key);
      return { params: { index: change.index } };
    });
    run("change-inclusion", () => inclusion(change, proof.status_change));
  }

  run("anchor", () => {
    const anchor = proof.anchor ?? {};
    if (anchor.status === "pending") return { state: "pending-anchor" };
    if (anchor.status !== "anchored") fail("the answer's anchor is neither anchored nor pending");
    const anchored = verifyCheckpoint(anchor.checkpoint, key);
    if (anchored.size !== anchor.tree_size || toBase64(anchored.root) !== anchor.root) {
      fail("the anchored checkpoint is not the tree and root the chain transaction carries");
    }
    if (anchor.consistency.first !== anchored.size || anchor.consistency.second !== checkpoint.size) {
      fail("the consistency proof is not between the anchored and the latest checkpoint");
    }
    verifyConsistency({ first: anchored.size, second: checkpoint.size, firstRoot: anchored.root,
                        secondRoot: checkpoint.root, hashes: anchor.consistency.hashes });
    if (registration.index >= anchored.size) fail("the anchored checkpoint does not cover the registration");
    const change = proof.status_change;
    const covers = !change || change.index < anchored.size ? "all" : "registration";
    facts.anchor = { ...anchor, covers };
    return { params: { size: anchored.size, chain: anchor.chain_id, contract: anchor.contract, tx: anchor.tx_hash,
                       block: anchor.block, confirmations: anchor.confirmations, covers } };
  });
  // Not yet anchored is no failure: the proofs hold, the chain has not caught up yet.
  for (const check of checks) if (check.state === "pending-anchor") check.state = "pending";
  return finish(answer.status);
}

/**
 * What the file is against the QR code that opened the page (`policy`, `version` from its URL): "match",
 * "other-version", "other-policy", "unknown-file" or "not-comparable" (no policy facts to compare). Only the last
 * four characters of a policy number are compared: the service never shows more.
 */
export function compareWithQr(answer, result, qr) {
  const wanted = lastFour(qr.policy);
  if (result.verdict === "unknown") return { state: "unknown-file", last4: wanted, version: qr.version };
  const policy = answer && answer.policy;
  const fileVersion = result.facts.version ?? (policy && policy.version);
  if (!policy || !wanted || fileVersion == null) return { state: "not-comparable", last4: wanted, version: qr.version };
  const fileLast4 = lastFour(policy.policy_no);
  if (fileLast4 !== wanted) return { state: "other-policy", last4: wanted, fileLast4, version: qr.version };
  if (String(fileVersion) !== String(qr.version)) {
    return { state: "other-version", last4: wanted, version: qr.version, fileVersion };
  }
  return { state: "match", last4: wanted, version: qr.version };
}
