// Checks a document proof answer in the browser: RFC 8785 (JCS) canonical JSON, RFC 9162 Merkle proofs, C2SP
// signed notes and vkeys, strict Ed25519, and the lifeledger payload commitment. No network, no DOM: the page
// (verify.js) feeds it the answer of GET /v1/documents/{digest}/proof, the verifier key the service publishes and
// what the person's device knows of that key (a key pinned in the page's address, the key it saw before).

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { t } from "./i18n.js";

const encoder = new TextEncoder();
// fatal: bytes that are not UTF-8 are refused; ignoreBOM: a byte order mark stays in the text (and so fails the
// canonical-form check) instead of being dropped without a word.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LEDGER_KEY_ID = "ledger"; // document events are signed by the ledger's own key, the key that signs checkpoints
const SIGNATURE_PREFIX = "\u2014 "; // em dash, space: a C2SP signature line
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * A check that did not pass. `key` names what was wrong among the page's words (i18n.js, "fail.<key>"), `params`
 * fill it in; the message is the English text, for logs and tests.
 */
export class CheckFailed extends Error {
  constructor(key, params = {}) {
    super(t("en", `fail.${key}`, params));
    this.name = "CheckFailed";
    this.key = key;
    this.params = params;
  }
}

function fail(key, params = {}) {
  throw new CheckFailed(key, params);
}

const part = (key, params = {}) => ({ key: `part.${key}`, params });

// -- bytes --------------------------------------------------------------------------------------------------

export function utf8(text) {
  return encoder.encode(text);
}

export function fromUtf8(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return fail("utf8");
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
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) fail("hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard, padded base64 only (what C2SP and RFC 9162 use); anything else is refused. `what` names the text in
 * messages (a text, or `{ key, params }` of i18n.js). */
export function fromBase64(text, what = "base64") {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    fail("base64", { what });
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  if (toBase64(out) !== text) fail("base64-canonical", { what });
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
      if (!Number.isFinite(value)) fail("jcs-number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
      const names = Object.keys(value).sort();
      return `{${names.map((name) => `${JSON.stringify(name)}:${jcs(value[name])}`).join(",")}}`;
    }
    default:
      return fail("jcs-type", { type: typeof value });
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
  if (!Array.isArray(hashes)) fail("hashes-list", { what: part(what) });
  return hashes.map((h, i) => {
    const name = part(`${what}-hash`, { n: i });
    const bytes = h instanceof Uint8Array ? h : fromBase64(h, name);
    if (bytes.length !== 32) fail("hash-length", { what: name, length: bytes.length });
    return bytes;
  });
}

function checkSize(n, what) {
  if (!Number.isSafeInteger(n) || n < 0) {
    fail("whole-number", { what: part(what), value: JSON.stringify(n) ?? "—" });
  }
}

/** The root an RFC 9162 §2.1.3.2 inclusion proof leads to from `leaf` (a leaf hash) at `index` in `treeSize`. */
export function rootFromInclusion({ index, treeSize, leaf, hashes }) {
  checkSize(index, "index");
  checkSize(treeSize, "tree-size");
  if (index >= treeSize) fail("index-outside", { index, size: treeSize });
  const path = checkHashes(hashes, "inclusion");
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) fail("inclusion-long");
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
  if (sn !== 0) fail("inclusion-short");
  return r;
}

/** Throws CheckFailed unless the inclusion proof leads from `leaf` to `root`. */
export function verifyInclusion({ index, treeSize, leaf, hashes, root }) {
  if (!equalBytes(rootFromInclusion({ index, treeSize, leaf, hashes }), root)) {
    fail("inclusion-root", { index, size: treeSize });
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
  const proof = checkHashes(hashes, "consistency");
  if (first < 1 || first > second) fail("consistency-range", { first, second });
  if (first === second) {
    if (proof.length !== 0) fail("consistency-equal-nonempty");
    if (!equalBytes(firstRoot, secondRoot)) fail("consistency-equal-roots", { first });
    return;
  }
  if (proof.length === 0) fail("consistency-empty");
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
    if (sn === 0) fail("consistency-long");
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
  if (sn !== 0) fail("consistency-short");
  if (!equalBytes(fr, firstRoot)) fail("consistency-root", { size: first });
  if (!equalBytes(sr, secondRoot)) fail("consistency-root", { size: second });
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
  if (!name || /[\s+]/u.test(name) || /[\u0000-\u001f]/.test(name)) fail("key-name", { name: JSON.stringify(name) });
}

/** A C2SP vkey `<name>+<hex key id>+<base64(0x01 || public key)>`, its key id checked. */
export function parseVkey(vkey) {
  if (typeof vkey !== "string") fail("vkey-text");
  // <name>+<id>+<key>: the name and the id hold no "+", the base64 key may.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) fail("vkey-form");
  const [name, idHex, keyText] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail("vkey-id-form");
  const typed = fromBase64(keyText, part("vkey"));
  if (typed.length !== 33 || typed[0] !== 0x01) fail("vkey-type");
  const keyId = sha256(concat(utf8(name), utf8("\n"), typed)).subarray(0, 4);
  if (toHex(keyId) !== idHex) fail("vkey-id");
  return { name, keyId, publicKey: typed.subarray(1), text: vkey };
}

/** The text of a C2SP signed note that carries a good signature by `key`; throws CheckFailed otherwise. */
export function verifyNote(note, key) {
  if (typeof note !== "string" || !note.endsWith("\n")) fail("note-text");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("note-blank");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let signed = false;
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) fail("note-line-dash");
    const [name, encoded, ...rest] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (rest.length !== 0 || encoded === undefined) fail("note-line-form");
    if (name !== key.name) continue;
    const blob = fromBase64(encoded, part("note-signature"));
    if (blob.length !== 68 || !equalBytes(blob.subarray(0, 4), key.keyId)) continue;
    if (!verifyEd25519(key.publicKey, utf8(text), blob.subarray(4))) fail("note-signature", { name: key.name });
    signed = true;
  }
  if (!signed) fail("note-unsigned", { name: key.name });
  return text;
}

/** A C2SP tlog-checkpoint body: origin, tree size, root (extension lines are not used by this log). */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") fail("checkpoint-lines");
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    fail("checkpoint-size", { size: JSON.stringify(sizeText) });
  }
  const root = fromBase64(rootText, part("checkpoint-root"));
  if (root.length !== 32) fail("checkpoint-root");
  return { origin, size: Number(sizeText), root };
}

/** A signed checkpoint: the note checked with `key`, its origin the key's name. */
export function verifyCheckpoint(note, key) {
  const checkpoint = parseCheckpoint(verifyNote(note, key));
  if (checkpoint.origin !== key.name) fail("checkpoint-origin", { origin: checkpoint.origin, name: key.name });
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
  if (!entry || typeof entry !== "object") fail("entry-missing");
  checkSize(entry.index, "index");
  const leaf = fromBase64(entry.leaf, part("leaf"));
  let record;
  try {
    record = JSON.parse(fromUtf8(leaf));
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    fail("leaf-json");
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) fail("leaf-record");
  if (jcs(record) !== fromUtf8(leaf)) fail("leaf-canonical");
  const statement = record.statement;
  if (!statement || typeof statement !== "object" || !DIGEST.test(statement.payload_hash ?? "")) {
    fail("leaf-statement");
  }
  const version = statement.v === undefined ? 1 : statement.v;
  if (version !== 1 && version !== 2) fail("statement-version", { version: JSON.stringify(statement.v) });
  const opening = entry.opening ?? {};
  const salt = fromBase64(opening.salt, part("salt"));
  if (salt.length < 16 || salt.length > 64) fail("salt-length");
  if (!opening.payload || typeof opening.payload !== "object" || Array.isArray(opening.payload)) {
    fail("opening-payload");
  }
  if (typeof opening.data_subject !== "string") fail("opening-subject");
  const commitment = payloadCommitment({ salt, payload: opening.payload, dataSubject: opening.data_subject, version });
  if (digestString(commitment) !== statement.payload_hash) {
    fail("opening-commitment");
  }
  return { index: entry.index, leaf, leafHash: leafHash(leaf), record, statement, payload: opening.payload,
           recordedAt: record.recorded_at };
}

/** Throws CheckFailed unless the entry's statement is signed, as a document event, by the ledger's key (the key that
 * signs the checkpoints, `key_id` "ledger"). */
export function verifyEntrySignature(opened, key) {
  const { record, statement, index } = opened;
  if (record.key_id !== LEDGER_KEY_ID) fail("entry-key-id", { index, keyId: JSON.stringify(record.key_id) ?? "—" });
  const signature = fromBase64(record.signature, part("signature"));
  if (!verifyEd25519(key.publicKey, utf8(jcs(statement)), signature)) fail("entry-signature", { index });
}

// -- the whole answer --------------------------------------------------------------------------------------------

/** The document registry's kind of an e-policy (EPOLICY_KIND in ledger/policies/service.py): what this page judges. */
export const EPOLICY_KIND = 1;
const REGISTERED = "document.registered";
const SUPERSEDED = "document.superseded";
const REVOKED = "document.revoked";
const STATUSES = ["genuine", "superseded", "revoked"];
const OPS = ["register", "supersede", "revoke"];
/** The verdicts that rest on proofs (every check passed): only with one of these are facts and the QR shown. */
export const PROVEN = ["genuine", "superseded", "revoked", "other-kind"];

/** The last four characters of a policy number (the part the service shows). */
export function lastFour(policyNo) {
  return typeof policyNo === "string" && policyNo.length >= 4 ? policyNo.slice(-4) : null;
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const isText = (value) => typeof value === "string";
const isInteger = (value) => Number.isSafeInteger(value);
const orNull = (test) => (value) => value === null || test(value);
const SHAPES = {
  object: isObject, "object-or-null": orNull(isObject), list: Array.isArray, text: isText,
  "text-or-null": orNull(isText), integer: isInteger, "integer-or-null": orNull(isInteger),
  status: (value) => [...STATUSES, "unknown"].includes(value), op: (value) => OPS.includes(value),
  kind: (value) => value === "e-policy" || isInteger(value),
};

function describe(value) {
  return value === undefined ? { key: "shape.missing" } : (JSON.stringify(value) ?? String(value)).slice(0, 60);
}

/** `{ key: "shape.problem", params }` naming `path` when `value` is not of `shape` (a key of SHAPES), else null. */
function shapeProblem(path, shape, value) {
  if (SHAPES[shape](value)) return null;
  return { key: "shape.problem", params: { path, expected: { key: `shape.${shape}` }, got: describe(value) } };
}

/** What is wrong with the answer of GET /v1/log/key: null when it is an object carrying a `vkey` text. */
export function keyAnswerProblem(published) {
  return shapeProblem("/v1/log/key", "object", published) ?? shapeProblem("vkey", "text", published.vkey);
}

/**
 * What is malformed in a proof answer, as `{ key: "shape.problem", params }` naming the field (null when its shape
 * is sound): every field the page reads must be there with the type it expects, so that a broken answer ends in an
 * error naming the field, never in a half-shown verdict. The proofs inside are checkDocument's business.
 */
export function answerProblem(answer) {
  const problem = (path, shape, value) => shapeProblem(path || "answer", shape, value);
  const fields = (path, value, spec) => {
    for (const [name, shape] of Object.entries(spec)) {
      const found = problem(`${path}${name}`, shape, value[name]);
      if (found) return found;
    }
    return null;
  };
  const first = (...steps) => {
    for (const step of steps) {
      const found = step();
      if (found) return found;
    }
    return null;
  };
  return first(
    () => problem("", "object", answer),
    () => fields("", answer, { digest: "text", status: "status", chain: "list" }),
    () => first(...answer.chain.map((op, n) => () => problem(`chain[${n}]`, "object", op)
      ?? fields(`chain[${n}].`, op, { op: "op", chain_id: "integer-or-null", contract: "text-or-null",
                                      tx_hash: "text-or-null", block: "integer-or-null",
                                      confirmations: "integer-or-null" }))),
    () => (answer.status === "unknown" ? null : first(
      () => fields("", answer, { version: "integer", kind: "kind", superseded_by: "text-or-null",
                                 superseded_by_version: "integer-or-null", revocation: "object-or-null",
                                 policy: "object-or-null", proof: "object" }),
      () => answer.revocation && fields("revocation.", answer.revocation, { reason_code: "integer" }),
      () => answer.policy && first(
        () => fields("policy.", answer.policy, { policy_no: "text", version: "integer", issued_on: "text",
                                                 product: "object" }),
        () => fields("policy.product.", answer.policy.product, { id: "text", version: "integer", name: "object" }),
        () => fields("policy.product.name.", answer.policy.product.name, { zh: "text", en: "text" })),
      () => fields("proof.", answer.proof, { vkey: "text", checkpoint: "text-or-null", registration: "object",
                                             status_change: "object-or-null", lineage: "list", anchor: "object" }),
      () => first(...answer.proof.lineage.map((entry, n) => () => problem(`proof.lineage[${n}]`, "object", entry))),
      () => fields("proof.anchor.", answer.proof.anchor, { status: "text" }),
      () => (answer.proof.anchor.status !== "anchored" ? null : first(
        () => fields("proof.anchor.", answer.proof.anchor, {
          checkpoint: "text", tree_size: "integer", root: "text", consistency: "object", chain_id: "integer",
          contract: "text", tx_hash: "text-or-null", block: "integer-or-null", confirmations: "integer" }),
        () => fields("proof.anchor.consistency.", answer.proof.anchor.consistency,
                     { first: "integer", second: "integer", hashes: "list" }))))));
}

function keyIdOf(vkey) {
  try {
    return toHex(parseVkey(vkey).keyId);
  } catch {
    return "—";
  }
}

function checkChange(opened, answer, digest, registration) {
  const { statement, payload } = opened;
  if (statement.stream !== registration.statement.stream) fail("change-stream");
  if (opened.index <= registration.index) fail("change-order", { index: opened.index, at: registration.index });
  if (answer.status === "superseded") {
    if (statement.type !== SUPERSEDED) fail("change-not-supersession", { type: statement.type });
    if (payload.old_digest !== digest) fail("change-old-digest");
    if (payload.digest !== answer.superseded_by) fail("change-successor");
    if (payload.version !== answer.superseded_by_version) fail("change-successor-version");
    if (answer.revocation != null) fail("superseded-revocation");
    return { index: opened.index, at: opened.recordedAt, version: payload.version };
  }
  if (statement.type !== REVOKED) fail("change-not-revocation", { type: statement.type });
  if (payload.digest !== digest) fail("change-revoked-digest");
  if (!isObject(answer.revocation) || payload.reason_code !== answer.revocation.reason_code) fail("change-reason");
  return { index: opened.index, at: opened.recordedAt, code: payload.reason_code };
}

/**
 * Check a proof answer about the file whose fingerprint is `digest` (`sha256:<hex>`) against the verifier key this
 * service publishes at /v1/log/key (`publishedVkey`), the key pinned in the page's address (`pinned`: `{ vkey }`,
 * `{ keyId }`, `{ invalid }` when it is neither, or null) and the key this device saw from the service before
 * (`remembered`: `{ vkey, since }` or null). Never throws.
 *
 * Returns { verdict, failed, checks, facts }. `verdict` is "unknown" (the service has no record), "unverified" (a
 * check failed or could not be made yet: `failed` is { id, state, failure: { key, params }, detail }), "other-kind"
 * (every check passed, but the registered kind is not an e-policy) or the status the entries prove ("genuine",
 * "superseded", "revoked"). Each check is { id, state: ok | failed | pending | info | skipped, params, failure,
 * detail }; checks run in order and stop at the first that fails (the rest are "skipped"). `facts` holds what the
 * entries prove (version, kind, registeredAt, changedAt, supersededByVersion, reasonCode, anchored), the key
 * (name, keyId, trust: pinned | remembered | first-use, since) and, apart, what the service reports of the chain
 * (`reported`).
 */
export function checkDocument(answer, { digest, publishedVkey, pinned = null, remembered = null }) {
  const ORDER = ["fingerprint", "registry", "key", "checkpoint", "registration-entry", "registration-signature",
    "registration-inclusion", "kind", "change-entry", "change-signature", "change-inclusion", "anchor",
    "anchor-chain"];
  const checks = [];
  const facts = {};
  let stopped = null;
  const run = (id, step) => {
    if (stopped) return undefined;
    try {
      const outcome = step() ?? {};
      const state = outcome.state ?? "ok";
      checks.push({ id, state, params: outcome.params ?? {}, failure: null, detail: "" });
      if (state === "pending" && outcome.stops !== false) stopped = { id, state, failure: null, detail: "" };
      return outcome.value;
    } catch (error) {
      const failed = error instanceof CheckFailed ? error : new CheckFailed("unexpected", { detail: String(error) });
      const failure = { key: failed.key, params: failed.params };
      checks.push({ id, state: "failed", params: {}, failure, detail: failed.message });
      stopped = { id, state: "failed", failure, detail: failed.message };
      return undefined;
    }
  };
  const finish = (verdict) => {
    for (const id of ORDER) if (!checks.some((c) => c.id === id)) checks.push({ id, state: "skipped", params: {} });
    checks.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
    return { verdict: stopped ? "unverified" : verdict, failed: stopped, checks, facts };
  };

  run("fingerprint", () => ({ state: "info", params: { digest } }));
  if (!isObject(answer)) {
    run("registry", () => fail("unexpected", { detail: "the answer is not a JSON object" }));
    return finish("unverified");
  }
  const unknown = answer.status === "unknown";
  run("registry", () => {
    if (answer.digest !== digest) fail("answer-digest");
    if (unknown) return { state: "info" };
    if (!STATUSES.includes(answer.status)) fail("answer-status", { status: JSON.stringify(answer.status) });
    if (!isObject(answer.proof)) fail("answer-no-proof");
  });
  const proof = isObject(answer.proof) ? answer.proof : {};

  // The key is held to the pin and to the device's memory even when the service says it knows no such file: a
  // service answering under another key must not deny a genuine e-policy any more than vouch for a forged one.
  const key = run("key", () => {
    if (pinned && pinned.invalid !== undefined) fail("pin-malformed");
    const published = parseVkey(publishedVkey);
    const keyId = toHex(published.keyId);
    const trust = pinned ? "pinned" : remembered ? "remembered" : "first-use";
    facts.key = { name: published.name, keyId, trust, since: remembered?.since ?? null, vkey: publishedVkey };
    if (!unknown && proof.vkey !== publishedVkey) fail("key-not-published");
    if (pinned && (pinned.vkey !== undefined ? pinned.vkey !== publishedVkey : pinned.keyId !== keyId)) {
      fail("key-not-pinned", { keyId });
    }
    if (remembered && remembered.vkey !== publishedVkey) {
      fail("key-changed", { keyId, since: remembered.since, oldId: keyIdOf(remembered.vkey) });
    }
    return { value: published, params: { ...facts.key } };
  });
  if (unknown) {
    if (stopped) return finish("unverified");
    return { verdict: "unknown", failed: null, checks, facts };
  }
  const checkpoint = run("checkpoint", () => {
    if (proof.checkpoint == null) return { state: "pending" };
    const found = verifyCheckpoint(proof.checkpoint, key);
    return { value: found, params: { size: found.size } };
  });
  const inclusion = (opened, entry) => {
    if (entry.inclusion == null) return { state: "pending", params: { index: opened.index } };
    if (entry.inclusion.index !== opened.index || entry.inclusion.tree_size !== checkpoint.size) {
      fail("inclusion-other", { index: opened.index });
    }
    verifyInclusion({ index: opened.index, treeSize: checkpoint.size, leaf: opened.leafHash,
                      hashes: entry.inclusion.hashes, root: checkpoint.root });
    return { params: { index: opened.index, size: checkpoint.size } };
  };

  const registration = run("registration-entry", () => {
    const opened = openEntry(proof.registration);
    const { statement, payload, index } = opened;
    if (![REGISTERED, SUPERSEDED].includes(statement.type)) {
      fail("registration-type", { index, type: JSON.stringify(statement.type) });
    }
    if (payload.digest !== digest) fail("registration-digest", { index });
    if (!isInteger(payload.version) || payload.version < 1) fail("registration-version");
    if (answer.version !== payload.version) {
      fail("answer-version", { stated: JSON.stringify(answer.version), version: payload.version });
    }
    facts.version = payload.version;
    facts.registeredAt = opened.recordedAt;
    return { value: opened, params: { index, at: opened.recordedAt, version: payload.version } };
  });
  run("registration-signature", () => {
    verifyEntrySignature(registration, key);
    return { params: { index: registration.index } };
  });
  run("registration-inclusion", () => inclusion(registration, proof.registration));

  // The kind is in the registration that started the document's lineage; a later version came in by a
  // supersession, which carries it over: the answer lists the entries from that registration to this version.
  run("kind", () => {
    if (!Array.isArray(proof.lineage)) fail("lineage-list");
    const earlier = proof.lineage.map(openEntry);
    const steps = [...earlier, registration];
    const start = steps[0];
    if (start.statement.type !== REGISTERED) {
      fail("lineage-first", { index: start.index, type: JSON.stringify(start.statement.type) });
    }
    if (earlier.length > 0 && registration.statement.type === REGISTERED) fail("lineage-extra");
    const subject = start.payload.subject;
    if (!DIGEST.test(subject ?? "") || start.statement.stream !== `document:${subject.slice(7)}`) {
      fail("lineage-subject", { index: start.index });
    }
    for (const [n, entry] of earlier.entries()) {
      if (entry.statement.stream !== registration.statement.stream) fail("lineage-stream", { index: entry.index });
      verifyEntrySignature(entry, key);
      if (inclusion(entry, proof.lineage[n]).state === "pending") {
        return { state: "pending", params: { index: entry.index } };
      }
    }
    for (let n = 1; n < steps.length; n++) {
      const [before, entry] = [steps[n - 1], steps[n]];
      if (entry.statement.type !== SUPERSEDED || entry.index <= before.index
          || entry.payload.old_digest !== before.payload.digest || !(entry.payload.version > before.payload.version)) {
        fail("lineage-link", { index: entry.index });
      }
    }
    const kind = start.payload.kind;
    if (!isInteger(kind) || kind < 0 || kind > 255) fail("lineage-kind");
    if (answer.kind !== (kind === EPOLICY_KIND ? "e-policy" : kind)) {
      fail("answer-kind", { stated: JSON.stringify(answer.kind) ?? "—", kind });
    }
    facts.kind = kind;
    return { params: { kind, index: start.index, versions: steps.length } };
  });

  if (answer.status === "genuine") {
    // A log proves what it holds, not what it lacks: "current" is the service's word. Anything in its own answer
    // that says otherwise is a contradiction, and no verdict is given on a contradiction.
    run("change-entry", () => {
      if (proof.status_change != null) fail("genuine-change");
      if (answer.superseded_by != null || answer.superseded_by_version != null) {
        fail("genuine-successor", { successor: String(answer.superseded_by ?? answer.superseded_by_version) });
      }
      if (answer.revocation != null) fail("genuine-revocation");
      const ops = (Array.isArray(answer.chain) ? answer.chain : []).map((op) => op?.op);
      const brought = registration.statement.type === REGISTERED ? "register" : "supersede";
      const contrary = ops.find((op, n) => (n === 0 ? op !== brought : op === "supersede" || op === "revoke"));
      if (contrary !== undefined) fail("genuine-chain", { op: String(contrary) });
      return { state: "info" };
    });
    for (const id of ["change-signature", "change-inclusion"]) {
      if (!stopped) checks.push({ id, state: "info", params: {} });
    }
  } else {
    const change = run("change-entry", () => {
      if (proof.status_change == null) fail("change-missing", { status: answer.status });
      const opened = openEntry(proof.status_change);
      const params = checkChange(opened, answer, digest, registration);
      facts.changedAt = opened.recordedAt;
      facts.changeIndex = opened.index;
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

  const anchor = isObject(proof.anchor) ? proof.anchor : {};
  run("anchor", () => {
    if (anchor.status === "pending") {  // the chain has not caught up yet: said in the verdict, not hidden
      facts.anchorPending = true;
      return { state: "pending", stops: false };
    }
    if (anchor.status !== "anchored") fail("anchor-status");
    const anchored = verifyCheckpoint(anchor.checkpoint, key);
    if (anchored.size !== anchor.tree_size || toBase64(anchored.root) !== anchor.root) fail("anchor-root");
    if (anchor.consistency?.first !== anchored.size || anchor.consistency?.second !== checkpoint.size) {
      fail("anchor-consistency-sizes");
    }
    verifyConsistency({ first: anchored.size, second: checkpoint.size, firstRoot: anchored.root,
                        secondRoot: checkpoint.root, hashes: anchor.consistency.hashes });
    if (registration.index >= anchored.size) {
      fail("anchor-covers", { size: anchored.size, index: registration.index });
    }
    const change = proof.status_change;
    const covers = !change || change.index < anchored.size ? "all" : "registration";
    facts.anchored = { size: anchored.size, root: toHex(anchored.root), covers };
    return { params: { size: anchored.size, covers } };
  });
  // The chain itself is not read here: the transaction is what the service reports, to be checked on the chain.
  run("anchor-chain", () => {
    if (!facts.anchored) return { state: "pending", stops: false };
    facts.reported = { chain: anchor.chain_id, contract: anchor.contract, tx: anchor.tx_hash, block: anchor.block,
                       confirmations: anchor.confirmations };
    return { state: "info", params: { ...facts.reported, size: facts.anchored.size, root: facts.anchored.root } };
  });
  return finish(facts.kind === EPOLICY_KIND ? answer.status : "other-kind");
}

/**
 * What the file is against the QR code that opened the page (`policy`, `version` from its address): "match",
 * "other-version", "other-policy", "unknown-file" or "not-comparable" (not an e-policy of a policy); null when the
 * verdict is not proven, since then nothing may be said of the file. The version compared is the one the
 * registration proves; only the last four characters of a policy number are compared (the service shows no more).
 */
export function compareWithQr(answer, result, qr) {
  const wanted = lastFour(qr.policy);
  if (result.verdict === "unknown") return { state: "unknown-file", last4: wanted, version: qr.version };
  if (!PROVEN.includes(result.verdict)) return null;
  const policy = isObject(answer) ? answer.policy : null;
  const fileVersion = result.facts.version;
  if (result.verdict === "other-kind" || !isObject(policy) || !wanted || fileVersion == null) {
    return { state: "not-comparable", last4: wanted, version: qr.version };
  }
  const fileLast4 = lastFour(policy.policy_no);
  if (fileLast4 !== wanted) return { state: "other-policy", last4: wanted, fileLast4, version: qr.version };
  if (String(fileVersion) !== String(qr.version)) {
    return { state: "other-version", last4: wanted, version: qr.version, fileVersion };
  }
  return { state: "match", last4: wanted, version: qr.version };
}
