// The verification page: takes the file the person chooses or drops, fingerprints it on this device, asks the
// service about the fingerprint only, checks the answer (proofcheck.js) and shows the outcome in Chinese or English.

import { checkDocument, compareWithQr, digestString, lastFour, sha256 } from "./proofcheck.js";
import { LANGUAGES, initialLanguage, keepLanguage, t } from "./i18n.js";

const MAX_MB = 100;
const page = {
  lang: initialLanguage(),
  qr: readQr(new URLSearchParams(globalThis.location.search)),
  shown: null, // what the result area shows: { kind: "working" | "error" | "result", ... }
};
const $ = (selector) => document.querySelector(selector);

function readQr(params) {
  const policy = params.get("policy");
  const version = params.get("version");
  if (!policy || !version || !/^[1-9][0-9]{0,8}$/.test(version)) return null;
  return { policy, version: Number(version) };
}

// -- building the DOM (text only: nothing the service or the URL says is ever parsed as HTML) ------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const say = (key, params) => t(page.lang, key, params);

function when(recordedAt) {
  if (typeof recordedAt !== "string") return "—";
  const found = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(recordedAt);
  return found ? `${found[1]} ${found[2]} UTC` : recordedAt;
}

function day(recordedAt) {
  return typeof recordedAt === "string" ? recordedAt.slice(0, 10) : "—";
}

// -- the static text, the language switch and the QR panel -----------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = say("html.lang");
  document.title = say("page.title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = say(node.dataset.i18n);
  $(".languages").setAttribute("aria-label", `${t("zh", "lang.group")} / ${t("en", "lang.group")}`);
  for (const button of document.querySelectorAll(".language")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === page.lang));
  }
  const panel = $("#qr");
  panel.hidden = page.qr === null;
  if (page.qr) $("#qr-text").textContent = say("qr.intro", { last4: lastFour(page.qr.policy) ?? "—",
                                                            version: page.qr.version });
  render();
}

function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === page.lang) return;
  page.lang = lang;
  keepLanguage(lang);
  applyLanguage();
}

// -- the result ------------------------------------------------------------------------------------------------

function render() {
  const area = $("#result");
  const shown = page.shown;
  area.replaceChildren();
  if (shown === null) {
    area.dataset.verdict = "none";
    return;
  }
  if (shown.kind === "working") {
    area.dataset.verdict = "working";
    area.append(el("p", { class: "working" }, say("working", { name: shown.name })));
    return;
  }
  if (shown.kind === "error") {
    area.dataset.verdict = "error";
    area.append(verdictBox("error", say("verdict.error"), say(shown.key ?? "verdict.error.detail", shown.params)));
    return;
  }
  const { answer, result, qr } = shown;
  area.dataset.verdict = result.verdict;
  area.dataset.failed = result.failed ? result.failed.id : "";
  area.append(verdictBox(result.verdict, say(`verdict.${result.verdict}`), verdictDetail(answer, result)));
  if (qr) {
    area.append(el("p", { class: `qr-outcome qr-${qr.state}`, "data-qr": qr.state }, say(`qr.${qr.state}`, qr)));
  }
  if (result.verdict !== "unknown") area.append(...facts(answer, result, shown.digest));
  area.append(el("h3", {}, say("checks.heading")), checks(result));
}

function verdictBox(kind, title, detail) {
  return el("div", { class: `verdict verdict-${kind}` }, el("h2", { class: "verdict-title" }, title),
            el("p", { class: "verdict-detail" }, detail));
}

function verdictDetail(answer, result) {
  const { verdict, facts: found, failed } = result;
  if (verdict === "superseded") {
    return say("verdict.superseded.detail", { version: found.supersededByVersion, date: day(found.changedAt) });
  }
  if (verdict === "revoked") {
    const reason = answer.revocation?.reason?.[page.lang] ?? answer.revocation?.reason?.en ?? "";
    return say("verdict.revoked.detail", { date: day(found.changedAt), reason });
  }
  if (verdict === "unverified") {
    const check = say(`check.${failed.id}`);
    return failed.state === "pending" ? say("verdict.unverified.pending", { check })
      : say("verdict.unverified.detail", { check });
  }
  return say(`verdict.${verdict}.detail`);
}

function facts(answer, result, digest) {
  const rows = [];
  const row = (key, value) => rows.push(el("dt", {}, say(key)), el("dd", {}, value));
  const policy = answer.policy;
  if (policy) {
    row("facts.product", `${policy.product.name[page.lang] ?? policy.product.name.en} (${policy.product.id}, ` +
        `v${policy.product.version})`);
    row("facts.policy", say("facts.policy.masked", { number: policy.policy_no }));
    row("facts.issued", policy.issued_on);
  }
  row("facts.version", String(result.facts.version ?? answer.version ?? "—"));
  row("facts.fingerprint", el("code", { class: "digest" }, digest));
  if (answer.status === "superseded" && policy) {
    row("facts.superseded", say("facts.superseded.value", { version: policy.superseded_by_version,
                                                            date: policy.superseded_on }));
  }
  if (answer.revocation) row("facts.revoked", answer.revocation.reason?.[page.lang] ?? answer.revocation.reason?.en);
  if (result.facts.registeredAt) row("facts.registered", when(result.facts.registeredAt));
  // The oldest operation on a digest put it on chain (a register, or a supersede naming it as the successor);
  // a later supersede names it as the one replaced.
  const chain = (answer.chain ?? []).map((op, n) => el("li", { "data-op": n === 0 ? "register" : op.op },
    `${say(`chain.${n === 0 ? "register" : op.op}`)}: ${op.tx_hash
      ? say("chain.sent", { chain: op.chain_id, contract: op.contract, tx: op.tx_hash, block: op.block,
                            confirmations: op.confirmations })
      : say("chain.queued")}`));
  row("facts.chain", chain.length ? el("ul", { class: "chain" }, ...chain) : say("chain.none"));
  return [el("h3", {}, say("facts.heading")), el("dl", { class: "facts" }, ...rows)];
}

const MARKS = { ok: "✓", failed: "✗", pending: "…", info: "i", skipped: "–" };

function checkText(check) {
  const { id, state, params } = check;
  if (state === "failed") return say("failed.detail", { detail: check.detail });
  if (state === "skipped") return "";
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

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

async function check(file) {
  const started = performance.now();
  page.shown = { kind: "working", name: file.name };
  render();
  if (file.size > MAX_MB * 1024 * 1024) {
    page.shown = { kind: "error", key: "error.too-large", params: { limit: MAX_MB } };
    render();
    return;
  }
  let buffer;
  try {
    buffer = await file.arrayBuffer();
  } catch (error) {
    page.shown = { kind: "error", key: "error.read", params: { detail: String(error) } };
    render();
    return;
  }
  const read = performance.now();
  const digest = digestString(await fingerprint(buffer));
  const hashed = performance.now();
  let answer;
  let published;
  try {
    [published, answer] = await Promise.all([getJson("/v1/log/key"),
                                             getJson(`/v1/documents/${encodeURIComponent(digest)}/proof`)]);
  } catch (error) {
    page.shown = { kind: "error", params: { detail: error.message } };
    render();
    return;
  }
  const fetched = performance.now();
  const result = checkDocument(answer, { digest, publishedVkey: published.vkey });
  const qr = page.qr ? compareWithQr(answer, result, page.qr) : null;
  const checked = performance.now();
  page.shown = { kind: "result", answer, result, qr, digest };
  render();
  const area = $("#result");
  const timings = { read: read - started, hash: hashed - read, fetch: fetched - hashed, check: checked - fetched,
                    total: performance.now() - started };
  for (const [name, ms] of Object.entries(timings)) area.dataset[`ms${name[0].toUpperCase()}${name.slice(1)}`] =
    ms.toFixed(1);
}

// -- wiring --------------------------------------------------------------------------------------------------------

function start() {
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
  applyLanguage();
  document.body.dataset.ready = "true";
}

start();
