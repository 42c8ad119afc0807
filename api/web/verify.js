// The verification page: takes the file the person chooses or drops, fingerprints it on this device, asks the
// service about the fingerprint only, checks the answer (proofcheck.js) and shows the outcome in Chinese or English.
// What the device knows of the service's key is its own: a key pinned in the page's address (#vkey=…) and the key it
// saw from this origin before (kept in localStorage: trust on first use, and a loud warning if it ever changes).

import {
  PROVEN, answerProblem, checkDocument, compareWithQr, digestString, keyAnswerProblem, lastFour, parseVkey, sha256,
  toHex,
} from "./proofcheck.js";
import { LANGUAGES, STRINGS, initialLanguage, keepLanguage, t } from "./i18n.js";

const MAX_MB = 100;
const TIMEOUT_S = 30; // a request unanswered this long ends the check with an error, never an endless "Checking …"
const KEY_STORE = "lifeledger.verify.key"; // localStorage is per origin: this is the key of this service
const RAW = "\u{E000}"; // a private-use character, in none of the page's words: marks where English detail goes

const page = {
  lang: initialLanguage(),
  qr: null, // { policy, version } from the QR code's address
  pin: null, // { vkey, name, keyId } | { keyId } | { invalid } from #vkey=
  shown: null, // what the result area shows: { kind: "working" | "error" | "result", name, ... }
  run: 0, // the check under way; a check that is no longer the latest shows nothing
  file: null,
};
const $ = (selector) => document.querySelector(selector);

// -- the address: the QR code's policy and version, and a pinned key ---------------------------------------------

const decode = (text) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** `name=value` pairs of the fragment; "+" stays "+" (a vkey's base64 holds it), percent-escapes are decoded. */
function fragmentParams(hash) {
  const out = new Map();
  for (const part of hash.replace(/^#/, "").split("&")) {
    if (!part) continue;
    const at = part.indexOf("=");
    out.set(decode(at < 0 ? part : part.slice(0, at)), decode(at < 0 ? "" : part.slice(at + 1)));
  }
  return out;
}

function readQr(policy, version) {
  if (!policy || !version || !/^[1-9][0-9]{0,8}$/.test(version)) return null;
  return { policy, version: Number(version) };
}

function readPin(text) {
  if (text === undefined || text === "") return null;
  if (/^[0-9a-f]{8}$/.test(text)) return { keyId: text };
  try {
    const key = parseVkey(text);
    return { vkey: text, name: key.name, keyId: toHex(key.keyId) };
  } catch {
    return { invalid: text };
  }
}

/** The QR code's policy and version come in the fragment, which browsers never send; e-policies printed before
 * that carry them in the query, which is still read. A pinned key comes in the fragment only. */
function readAddress() {
  const fragment = fragmentParams(globalThis.location.hash);
  const query = new URLSearchParams(globalThis.location.search);
  const source = fragment.has("policy") ? fragment : query;
  page.qr = readQr(source.get("policy"), source.get("version"));
  page.pin = readPin(fragment.get("vkey"));
}

// -- the key this device has seen ----------------------------------------------------------------------------------

function rememberedKey() {
  try {
    const kept = JSON.parse(globalThis.localStorage?.getItem(KEY_STORE) ?? "null");
    return kept && typeof kept.vkey === "string" && typeof kept.since === "string" ? kept : null;
  } catch {
    return null; // storage refused (private modes) or garbled: as if never seen
  }
}

function rememberKey(vkey) {
  try {
    globalThis.localStorage?.setItem(KEY_STORE, JSON.stringify({ vkey, since: new Date().toISOString().slice(0, 10) }));
  } catch {
    // not kept: the next visit starts from no knowledge again
  }
}

// -- building the DOM (text only: nothing the service or the URL says is ever parsed as HTML) ------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const say = (key, params) => t(page.lang, key, params);

/** `say`, with every `{ raw }` parameter (technical detail the page has only in English: a browser's error
 * message) put in a span marked lang="en". */
function sayNodes(key, params = {}) {
  const raws = [];
  const filled = {};
  for (const [name, value] of Object.entries(params)) {
    const raw = value !== null && typeof value === "object" && "raw" in value;
    if (raw) raws.push(String(value.raw));
    filled[name] = raw ? RAW : value;
  }
  return say(key, filled).split(RAW).flatMap((text, n) => (n < raws.length ? [text, el("span", { lang: "en" },
                                                                                          raws[n])] : [text]));
}

function when(recordedAt) {
  if (typeof recordedAt !== "string") return "—";
  const found = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(recordedAt);
  return found ? `${found[1]} ${found[2]} UTC` : recordedAt;
}

function day(recordedAt) {
  return typeof recordedAt === "string" ? `${recordedAt.slice(0, 10)} UTC` : "—";
}

/** The reason of a revocation in words, from its proven reason code alone. */
function reasonWords(code) {
  return Object.hasOwn(STRINGS.en, `reason.${code}`) ? say(`reason.${code}`) : say("reason.other", { code });
}

// -- the static text, the language switch, the QR and pin panels -----------------------------------------------

function applyLanguage() {
  document.documentElement.lang = say("html.lang");
  document.title = say("page.title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = say(node.dataset.i18n);
  $(".languages").setAttribute("aria-label", `${t("zh", "lang.group")} / ${t("en", "lang.group")}`);
  for (const button of document.querySelectorAll(".language")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === page.lang));
  }
  $("#qr").hidden = page.qr === null;
  if (page.qr) {
    $("#qr-text").textContent = say("qr.intro", { last4: lastFour(page.qr.policy) ?? "—", version: page.qr.version });
  }
  const pin = page.pin;
  $("#pin").hidden = pin === null;
  $("#pin").dataset.pin = pin === null ? "none" : pin.invalid !== undefined ? "invalid" : pin.vkey ? "key" : "id";
  if (pin) $("#pin-text").textContent = say(`pin.${$("#pin").dataset.pin}`, pin);
  render();
}

function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === page.lang) return;
  page.lang = lang;
  keepLanguage(lang);
  applyLanguage();
}

// -- the result ------------------------------------------------------------------------------------------------

/** Draws what `page.shown` holds; if that fails (an answer shaped in a way nothing foresaw), the result area says
 * the page failed, and never stays half drawn. */
function render() {
  const area = $("#result");
  try {
    draw(area);
  } catch (error) {
    page.shown = { kind: "error", key: "error.unexpected", params: { detail: { raw: String(error) } },
                   name: page.shown?.name };
    draw(area);
  }
}

function draw(area) {
  const shown = page.shown;
  area.replaceChildren();
  area.dataset.failed = "";
  area.dataset.file = shown?.name ?? "";
  if (shown === null) {
    area.dataset.verdict = "none";
    return;
  }
  if (shown.kind === "working") {
    area.append(el("p", { class: "working" }, say("working", { name: shown.name })));
    area.dataset.verdict = "working";
    return;
  }
  if (shown.kind === "error") {
    area.append(verdictBox("error", say("verdict.error"), sayNodes(shown.key, shown.params), shown.name));
    area.dataset.verdict = "error";
    return;
  }
  const { answer, result, qr, digest } = shown;
  area.append(verdictBox(result.verdict, say(`verdict.${result.verdict}`), verdictDetail(result), shown.name));
  const warning = keyWarning(result);
  if (warning) area.append(warning);
  const key = result.checks.find((check) => check.id === "key");
  if (!warning && key?.state === "ok") area.append(keyLine(result.facts.key, result.facts.anchorPending === true));
  if (qr) area.append(el("p", { class: `qr-outcome qr-${qr.state}`, "data-qr": qr.state }, say(`qr.${qr.state}`, qr)));
  if (PROVEN.includes(result.verdict)) area.append(...facts(answer, result, digest));
  area.append(el("h3", {}, say("checks.heading")), checks(result));
  area.dataset.failed = result.failed ? result.failed.id : "";
  area.dataset.verdict = result.verdict;
}

function verdictBox(kind, title, detail, name) {
  return el("div", { class: `verdict verdict-${kind}` }, el("h2", { class: "verdict-title" }, title),
            el("p", { class: "verdict-detail" }, detail),
            name ? el("p", { class: "verdict-file", "data-file-name": name }, say("file", { name })) : null);
}

function verdictDetail(result) {
  const { verdict, facts: found, failed } = result;
  switch (verdict) {
    case "genuine":
      return say("verdict.genuine.detail", { version: found.version });
    case "superseded":
      return say("verdict.superseded.detail", { version: found.supersededByVersion, date: day(found.changedAt) });
    case "revoked":
      return say("verdict.revoked.detail", { date: day(found.changedAt), reason: reasonWords(found.reasonCode) });
    case "other-kind":
      return say("verdict.other-kind.detail", { kind: found.kind });
    case "unverified": {
      const check = say(`check.${failed.id}`);
      return say(failed.state === "pending" ? "verdict.unverified.pending" : "verdict.unverified.detail", { check });
    }
    default:
      return say(`verdict.${verdict}.detail`);
  }
}

/** The loud warning when the service answers with another key than the one this device saw or the address pins. */
function keyWarning(result) {
  const { failed, facts: found } = result;
  const reason = failed?.id === "key" ? failed.failure?.key : null;
  if (!found.key || !["key-changed", "key-not-pinned"].includes(reason)) return null;
  const kind = reason === "key-changed" ? "changed" : "pinned";
  const params = { ...found.key, ...failed.failure.params };
  const box = el("div", { class: "key-warning", role: "alert", "data-key-warning": kind },
                 el("h3", {}, say(`warning.${kind}.title`)), el("p", {}, say(`warning.${kind}`, params)));
  if (kind === "changed") {
    const accept = el("button", { type: "button", class: "accept-key" }, say("warning.changed.accept", params));
    accept.addEventListener("click", () => {
      rememberKey(found.key.vkey);
      if (page.file) check(page.file);
    });
    box.append(accept);
  }
  return box;
}

function keyLine(key, unanchored) {
  return el("div", { class: "key-line", "data-key-trust": key.trust, "data-unanchored": unanchored ? "true" : "false" },
            el("p", {}, el("strong", {}, say("keyline.label")), " ",
               el("code", { class: "key-id" }, say("keyline.value", key))),
            el("p", {}, say(`keyline.${key.trust}`, key), " ",
               say(unanchored ? "keyline.compare-unanchored" : "keyline.compare")));
}

function facts(answer, result, digest) {
  const proven = [];
  const row = (rows, key, value) => rows.push(el("dt", {}, say(key)), el("dd", {}, value));
  const found = result.facts;
  const epolicy = result.verdict !== "other-kind";
  row(proven, "facts.kind", epolicy ? say("facts.kind.epolicy") : say("facts.kind.other", { kind: found.kind }));
  if (epolicy) row(proven, "facts.version", String(found.version));
  row(proven, "facts.registered", when(found.registeredAt));
  if (found.supersededByVersion !== undefined) {
    row(proven, "facts.superseded", say("facts.superseded.value", { version: found.supersededByVersion,
                                                                     date: day(found.changedAt) }));
  }
  if (found.reasonCode !== undefined) {
    row(proven, "facts.revoked", say("facts.revoked.value", { date: day(found.changedAt),
                                                               reason: reasonWords(found.reasonCode) }));
  }
  row(proven, "facts.fingerprint", el("code", { class: "digest" }, digest));
  const out = [el("h3", {}, say("facts.heading")), el("dl", { class: "facts facts-proven" }, ...proven)];
  if (!epolicy) return out; // of another kind of document this page says nothing more

  const stated = [];
  const policy = answer.policy;
  if (policy) {
    row(stated, "facts.product", `${policy.product.name[page.lang] ?? policy.product.name.en} (${policy.product.id}, ` +
        `v${policy.product.version})`);
    row(stated, "facts.policy", say("facts.policy.masked", { number: policy.policy_no }));
    row(stated, "facts.issued", policy.issued_on);
  }
  // The oldest operation on a digest put it on chain (a register, or a supersede naming it as the successor);
  // a later supersede names it as the one replaced.
  const chain = answer.chain.map((op, n) => el("li", { "data-op": n === 0 ? "register" : op.op },
    `${say(`chain.${n === 0 ? "register" : op.op}`)}: ${op.tx_hash
      ? say("chain.sent", { chain: op.chain_id, contract: op.contract, tx: op.tx_hash, block: op.block,
                            confirmations: op.confirmations })
      : say("chain.queued")}`));
  row(stated, "facts.chain", chain.length ? el("ul", { class: "chain" }, ...chain) : say("chain.none"));
  return [...out, el("h3", {}, say("facts.stated")), el("dl", { class: "facts facts-stated" }, ...stated)];
}

const MARKS = { ok: "✓", failed: "✗", pending: "…", info: "i", skipped: "–" };

function checkText(check) {
  const { id, state, params } = check;
  if (state === "failed") {
    const { key, params: given } = check.failure;
    return key === "unexpected" ? sayNodes("failed.detail", { detail: { raw: given.detail } })
      : say("failed.detail", { detail: { key: `fail.${key}`, params: given } });
  }
  if (state === "skipped") return "";
  if (id === "key" && state === "ok") return say(`key.ok.${params.trust}`, params);
  if (id === "change-entry" && state === "ok") {
    return say(params.version !== undefined ? "change-entry.ok.version" : "change-entry.ok.code",
               { ...params, at: when(params.at) });
  }
  if (id === "anchor" && state === "ok") return say(`anchor.ok.${params.covers}`, params);
  return say(`${id}.${state}`, { ...params, at: when(params.at) });
}

function checks(result) {
  return el("ol", { class: "checks" }, ...result.checks.map((check) => el("li",
    { class: `check check-${check.state}`, "data-check": check.id, "data-state": check.state },
    el("span", { class: "mark", "aria-hidden": "true" }, MARKS[check.state] ?? ""),
    el("span", { class: "check-body" }, el("strong", {}, say(`check.${check.id}`)), " ",
       el("span", { class: "state" }, `(${say(`state.${check.state}`)})`), " ", checkText(check)))));
}

// -- checking a file ---------------------------------------------------------------------------------------------

async function fingerprint(buffer) {
  if (globalThis.crypto?.subtle) return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", buffer));
  return sha256(new Uint8Array(buffer)); // not a secure context (plain http to another host): no WebCrypto
}

/** A request that brought no usable answer; `key` and `params` say why in the page's words. */
class Unanswered extends Error {
  constructor(key, params) {
    super(key);
    this.key = key;
    this.params = params;
  }
}

async function getJson(url) {
  const signal = AbortSignal.timeout(TIMEOUT_S * 1000);
  const timedOut = (error) => error?.name === "TimeoutError" || signal.aborted;
  let response;
  try {
    response = await fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", signal });
  } catch (error) {
    if (timedOut(error)) throw new Unanswered("error.timeout", { seconds: TIMEOUT_S, url });
    throw new Unanswered("error.unanswered", { detail: { raw: String(error?.message ?? error) } });
  }
  if (!response.ok) {
    const status = { key: "error.status", params: { url, status: response.status } };
    throw new Unanswered("error.unanswered", { detail: status });
  }
  try {
    return await response.json();
  } catch (error) {
    if (timedOut(error)) throw new Unanswered("error.timeout", { seconds: TIMEOUT_S, url });
    throw new Unanswered("error.unanswered", { detail: { key: "error.not-json", params: { url } } });
  }
}

async function check(file) {
  const run = ++page.run;
  const current = () => run === page.run;
  const show = (shown) => {
    if (!current()) return false; // a newer file was chosen: its check alone may show anything
    page.shown = { ...shown, name: file.name };
    render();
    return true;
  };
  const started = performance.now();
  page.file = file;
  show({ kind: "working" });
  try {
    if (file.size > MAX_MB * 1024 * 1024) {
      show({ kind: "error", key: "error.too-large", params: { limit: MAX_MB } });
      return;
    }
    let buffer;
    try {
      buffer = await file.arrayBuffer();
    } catch (error) {
      show({ kind: "error", key: "error.read", params: { detail: { raw: String(error) } } });
      return;
    }
    const read = performance.now();
    const digest = digestString(await fingerprint(buffer));
    const hashed = performance.now();
    if (!current()) return;
    let published;
    let answer;
    try {
      [published, answer] = await Promise.all([getJson("/v1/log/key"),
                                               getJson(`/v1/documents/${encodeURIComponent(digest)}/proof`)]);
    } catch (error) {
      if (!(error instanceof Unanswered)) throw error;
      show({ kind: "error", key: error.key, params: error.params });
      return;
    }
    const fetched = performance.now();
    if (!current()) return;
    const keyProblem = keyAnswerProblem(published);
    if (keyProblem) {
      show({ kind: "error", key: "error.no-key", params: { detail: keyProblem } });
      return;
    }
    const problem = answerProblem(answer);
    if (problem) {
      show({ kind: "error", key: "error.malformed", params: { detail: problem } });
      return;
    }
    const remembered = rememberedKey();
    const result = checkDocument(answer, { digest, publishedVkey: published.vkey, pinned: page.pin, remembered });
    const passed = (id) => result.checks.some((c) => c.id === id && c.state === "ok");
    if (!remembered && passed("key") && passed("checkpoint")) rememberKey(published.vkey); // trust on first use
    const qr = page.qr ? compareWithQr(answer, result, page.qr) : null;
    const checked = performance.now();
    if (!show({ kind: "result", answer, result, qr, digest })) return;
    const area = $("#result");
    const timings = { read: read - started, hash: hashed - read, fetch: fetched - hashed, check: checked - fetched,
                      total: performance.now() - started };
    for (const [name, ms] of Object.entries(timings)) {
      area.dataset[`ms${name[0].toUpperCase()}${name.slice(1)}`] = ms.toFixed(1);
    }
  } catch (error) {
    show({ kind: "error", key: "error.unexpected", params: { detail: { raw: String(error) } } });
  }
}

// -- wiring --------------------------------------------------------------------------------------------------------

function start() {
  readAddress();
  for (const button of document.querySelectorAll(".language")) {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  const input = $("#file");
  input.addEventListener("change", () => {
    const [file] = input.files;
    if (file) check(file).finally(() => { input.value = ""; });
  });
  const drop = $("#drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("drop-over");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("drop-over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const [file] = event.dataTransfer?.files ?? [];
    if (file) check(file);
  });
  // A file dropped beside the zone must not make the browser open it in place of this page.
  for (const type of ["dragover", "drop"]) globalThis.addEventListener(type, (event) => event.preventDefault());
  // A new address (another pinned key, another QR): what was shown was judged under the old one.
  globalThis.addEventListener("hashchange", () => {
    page.run += 1;
    page.shown = null;
    readAddress();
    applyLanguage();
  });
  applyLanguage();
  document.body.dataset.ready = "true";
}

start();
