// The verification page's words in Chinese and English, and how the language is chosen: the person's own choice
// (kept on this device), else the browser's preferred languages, else English.

const STORE_KEY = "lifeledger.verify.lang";

export const LANGUAGES = ["zh", "en"];

export const STRINGS = {
  en: {
    "html.lang": "en",
    "page.title": "Check an e-policy · lifeledger",
    skip: "Skip to the check",
    brand: "lifeledger",
    title: "Check an e-policy",
    intro: "Choose the e-policy PDF you hold. This page tells you whether we issued it and whether it is still the " +
      "current version, and checks our answer itself against the signed, append-only journal and the chain.",
    "qr.heading": "From the QR code",
    "qr.intro": "You opened this page from the QR code of the policy whose number ends in {last4}, version " +
      "{version}. Choose the PDF file you hold to compare it with that version.",
    "qr.match": "This file is version {version} of the policy ending in {last4}: the one the QR code names.",
    "qr.other-version": "This file is version {fileVersion} of this policy, not version {version}, which the QR " +
      "code names.",
    "qr.other-policy": "This file belongs to another policy (number ending in {fileLast4}), not to the policy " +
      "ending in {last4} whose QR code you scanned.",
    "qr.unknown-file": "This file is not the e-policy the QR code names: we have no record of it.",
    "qr.not-comparable": "This file cannot be compared with the QR code: it is not one of our e-policies.",
    "drop.title": "Choose the PDF file",
    "drop.hint": "or drop it here",
    privacy: "The file never leaves your device: its SHA-256 fingerprint is computed here, and only the " +
      "fingerprint is sent to ask about it.",
    footer: "What this page checks, and what it takes on trust, is written down in docs/VERIFY.md of the " +
      "lifeledger project.",
    "lang.group": "Language",
    working: "Checking {name} …",
    "error.too-large": "This file is larger than {limit} MB; an e-policy is far smaller.",
    "error.read": "The file could not be read on this device ({detail}).",

    "verdict.genuine": "Genuine and current",
    "verdict.genuine.detail": "We issued this file and it is the current version.",
    "verdict.superseded": "Genuine, but superseded",
    "verdict.superseded.detail": "We issued this file, but version {version} replaced it on {date}.",
    "verdict.revoked": "Revoked",
    "verdict.revoked.detail": "We issued this file, and revoked it on {date}: {reason}",
    "verdict.unknown": "Unknown file",
    "verdict.unknown.detail": "We have no record of this file. It is not a document we issued, or it was " +
      "changed after we issued it (changing even one byte changes its fingerprint).",
    "verdict.unverified": "Could not be verified",
    "verdict.unverified.detail": "The check “{check}” failed, so this page cannot vouch for the service's " +
      "answer. Do not rely on this file until the insurer confirms it.",
    "verdict.unverified.pending": "The check “{check}” cannot be made yet: the journal has not signed a " +
      "checkpoint covering this document. Try again in a minute.",
    "verdict.error": "Could not check the file",
    "verdict.error.detail": "The service did not answer ({detail}). Nothing was concluded about the file.",

    "facts.heading": "What the document is",
    "facts.product": "Product",
    "facts.policy": "Policy number",
    "facts.version": "E-policy version",
    "facts.issued": "Issued on",
    "facts.fingerprint": "Fingerprint (SHA-256)",
    "facts.superseded": "Superseded by",
    "facts.superseded.value": "version {version}, issued on {date}",
    "facts.revoked": "Why it was revoked",
    "facts.registered": "Recorded in the journal",
    "facts.chain": "Registered on chain",
    "facts.policy.masked": "{number} (only the last four characters are shown)",
    "chain.register": "registered",
    "chain.supersede": "superseded",
    "chain.revoke": "revoked",
    "chain.sent": "chain {chain}, contract {contract}, transaction {tx}, block {block}, {confirmations} " +
      "confirmation(s)",
    "chain.queued": "waiting to be sent to the chain",
    "chain.none": "not yet",

    "checks.heading": "What this page checked",
    "state.ok": "passed",
    "state.failed": "failed",
    "state.pending": "not yet possible",
    "state.info": "note",
    "state.skipped": "not checked",
    "check.fingerprint": "file fingerprint",
    "check.registry": "register lookup",
    "check.key": "verifier key",
    "check.checkpoint": "signed checkpoint",
    "check.registration-entry": "registration entry",
    "check.registration-signature": "registration signature",
    "check.registration-inclusion": "registration in the journal",
    "check.change-entry": "status change entry",
    "check.change-signature": "status change signature",
    "check.change-inclusion": "status change in the journal",
    "check.anchor": "on-chain anchor",
    "fingerprint.info": "This device computed the file's SHA-256 fingerprint: {digest}.",
    "registry.ok": "Our register knows this fingerprint.",
    "registry.info": "Our register has no document with this fingerprint.",
    "key.ok": "The answer uses the verifier key the insurer publishes: {name} (key id {keyId}).",
    "checkpoint.ok": "The journal's latest checkpoint ({size} entries) carries a valid Ed25519 signature by that key.",
    "checkpoint.pending": "The journal has no signed checkpoint yet.",
    "registration-entry.ok": "Journal entry #{index}, recorded {at}, registers this fingerprint as version " +
      "{version}; its payload opening hashes to the commitment in the entry.",
    "registration-signature.ok": "Entry #{index} is signed with the insurer's key.",
    "registration-inclusion.ok": "Entry #{index} is in the signed journal of {size} entries (RFC 9162 inclusion " +
      "proof).",
    "registration-inclusion.pending": "Entry #{index} is not yet covered by a signed checkpoint.",
    "change-entry.ok.version": "Journal entry #{index}, recorded {at}, replaces this version with version " +
      "{version}.",
    "change-entry.ok.code": "Journal entry #{index}, recorded {at}, revokes this document (reason code {code}).",
    "change-entry.info": "The service reports no later version and no revocation. A journal proves what it holds, " +
      "not what it lacks: the on-chain register below is the second witness.",
    "change-signature.ok": "Entry #{index} is signed with the insurer's key.",
    "change-signature.info": "No status change to check.",
    "change-inclusion.ok": "Entry #{index} is in the signed journal of {size} entries (RFC 9162 inclusion proof).",
    "change-inclusion.info": "No status change to check.",
    "change-inclusion.pending": "Entry #{index} is not yet covered by a signed checkpoint.",
    "anchor.ok.all": "The checkpoint of {size} entries anchored on chain {chain} (contract {contract}, " +
      "transaction {tx}, block {block}, {confirmations} confirmation(s)) is signed and consistent with the " +
      "journal (RFC 9162 consistency proof), and covers these entries.",
    "anchor.ok.registration": "The checkpoint of {size} entries anchored on chain {chain} (contract {contract}, " +
      "transaction {tx}, block {block}, {confirmations} confirmation(s)) is signed and consistent with the " +
      "journal, and covers the registration; the status change waits for the next anchoring round.",
    "anchor.pending": "Not yet anchored on chain: the next anchoring round will cover these entries.",
    "failed.detail": "What was wrong: {detail}",
  },
  zh: {
    "html.lang": "zh-CN",
    "page.title": "电子保单验真 · lifeledger",
    skip: "跳到验真",
    brand: "lifeledger",
    title: "电子保单验真",
    intro: "请选择您持有的电子保单 PDF 文件。本页告诉您该文件是否由我们签发、是否仍为现行版本，并依据已签名、只增不改的" +
      "日志和区块链自行核验我们的答复。",
    "qr.heading": "来自保单二维码",
    "qr.intro": "您通过保单号尾号为 {last4} 的保单第 {version} 版上的二维码打开了本页。请选择您持有的 PDF 文件，与该版本比对。",
    "qr.match": "此文件是尾号 {last4} 保单的第 {version} 版，正是二维码所指的版本。",
    "qr.other-version": "此文件是本保单的第 {fileVersion} 版，而不是二维码所指的第 {version} 版。",
    "qr.other-policy": "此文件属于另一份保单（保单号尾号 {fileLast4}），而不是您扫描的二维码所指的尾号 {last4} 的保单。",
    "qr.unknown-file": "此文件不是二维码所指的电子保单：我们没有它的记录。",
    "qr.not-comparable": "此文件无法与二维码比对：它不是我们签发的电子保单。",
    "drop.title": "选择 PDF 文件",
    "drop.hint": "或将文件拖放到这里",
    privacy: "文件不会离开您的设备：本页在本机计算其 SHA-256 指纹，只发送指纹用于查询。",
    footer: "本页核验哪些内容、信任哪些内容，详见 lifeledger 项目的 docs/VERIFY.md。",
    "lang.group": "语言",
    working: "正在核验 {name} …",
    "error.too-large": "此文件大于 {limit} MB；电子保单远小于此。",
    "error.read": "无法在本机读取此文件（{detail}）。",

    "verdict.genuine": "真实有效，为现行版本",
    "verdict.genuine.detail": "此文件由我们签发，且为现行版本。",
    "verdict.superseded": "真实，但已被新版本取代",
    "verdict.superseded.detail": "此文件由我们签发，但已于 {date} 被第 {version} 版取代。",
    "verdict.revoked": "已作废",
    "verdict.revoked.detail": "此文件由我们签发，已于 {date} 作废：{reason}",
    "verdict.unknown": "未知文件",
    "verdict.unknown.detail": "我们没有此文件的记录。它不是我们签发的文件，或签发后被改动过（哪怕改动一个字节，指纹也会不同）。",
    "verdict.unverified": "无法核验",
    "verdict.unverified.detail": "“{check}”一项未通过，本页无法为服务的答复作保。在保险公司确认之前，请勿依赖此文件。",
    "verdict.unverified.pending": "“{check}”一项暂时无法核验：日志尚未签署覆盖此文件的检查点。请一分钟后再试。",
    "verdict.error": "无法核验文件",
    "verdict.error.detail": "服务没有答复（{detail}）。未对文件作出任何结论。",

    "facts.heading": "文件信息",
    "facts.product": "产品",
    "facts.policy": "保单号",
    "facts.version": "电子保单版本",
    "facts.issued": "签发日期",
    "facts.fingerprint": "指纹（SHA-256）",
    "facts.superseded": "取代它的版本",
    "facts.superseded.value": "第 {version} 版，签发于 {date}",
    "facts.revoked": "作废原因",
    "facts.registered": "记入日志",
    "facts.chain": "链上登记",
    "facts.policy.masked": "{number}（仅显示最后四位）",
    "chain.register": "登记",
    "chain.supersede": "取代",
    "chain.revoke": "作废",
    "chain.sent": "链 {chain}，合约 {contract}，交易 {tx}，区块 {block}，{confirmations} 次确认",
    "chain.queued": "等待上链",
    "chain.none": "尚未上链",

    "checks.heading": "本页核验了什么",
    "state.ok": "通过",
    "state.failed": "未通过",
    "state.pending": "暂时无法核验",
    "state.info": "说明",
    "state.skipped": "未核验",
    "check.fingerprint": "文件指纹",
    "check.registry": "登记查询",
    "check.key": "验证公钥",
    "check.checkpoint": "签名检查点",
    "check.registration-entry": "登记条目",
    "check.registration-signature": "登记条目签名",
    "check.registration-inclusion": "登记条目在日志中",
    "check.change-entry": "状态变更条目",
    "check.change-signature": "状态变更签名",
    "check.change-inclusion": "状态变更在日志中",
    "check.anchor": "链上锚定",
    "fingerprint.info": "本机计算出文件的 SHA-256 指纹：{digest}。",
    "registry.ok": "我们的登记簿中有此指纹。",
    "registry.info": "我们的登记簿中没有此指纹的文件。",
    "key.ok": "答复使用的是保险公司公布的验证公钥：{name}（密钥编号 {keyId}）。",
    "checkpoint.ok": "日志最新检查点（{size} 个条目）带有该公钥的有效 Ed25519 签名。",
    "checkpoint.pending": "日志尚无签名检查点。",
    "registration-entry.ok": "日志条目 #{index}（记录于 {at}）将此指纹登记为第 {version} 版；其载荷原文的哈希与条目中的承诺一致。",
    "registration-signature.ok": "条目 #{index} 由保险公司的密钥签名。",
    "registration-inclusion.ok": "条目 #{index} 在含 {size} 个条目的已签名日志中（RFC 9162 包含证明）。",
    "registration-inclusion.pending": "条目 #{index} 尚未被签名检查点覆盖。",
    "change-entry.ok.version": "日志条目 #{index}（记录于 {at}）以第 {version} 版取代此版本。",
    "change-entry.ok.code": "日志条目 #{index}（记录于 {at}）作废此文件（原因代码 {code}）。",
    "change-entry.info": "服务答复没有更新的版本，也没有作废。日志能证明它包含什么，不能证明它缺少什么：下方的链上登记是第二个见证。",
    "change-signature.ok": "条目 #{index} 由保险公司的密钥签名。",
    "change-signature.info": "没有需要核验的状态变更。",
    "change-inclusion.ok": "条目 #{index} 在含 {size} 个条目的已签名日志中（RFC 9162 包含证明）。",
    "change-inclusion.info": "没有需要核验的状态变更。",
    "change-inclusion.pending": "条目 #{index} 尚未被签名检查点覆盖。",
    "anchor.ok.all": "锚定在链 {chain} 上的检查点（{size} 个条目；合约 {contract}，交易 {tx}，区块 {block}，{confirmations} " +
      "次确认）签名有效、与日志一致（RFC 9162 一致性证明），并覆盖上述条目。",
    "anchor.ok.registration": "锚定在链 {chain} 上的检查点（{size} 个条目；合约 {contract}，交易 {tx}，区块 {block}，" +
      "{confirmations} 次确认）签名有效、与日志一致，并覆盖登记条目；状态变更等待下一轮锚定。",
    "anchor.pending": "尚未锚定上链：下一轮锚定将覆盖这些条目。",
    "failed.detail": "问题所在：{detail}",
  },
};

/** The language to start in: the one chosen on this device before, else the browser's first Chinese or English. */
export function initialLanguage(languages = globalThis.navigator?.languages) {
  try {
    const kept = globalThis.localStorage?.getItem(STORE_KEY);
    if (LANGUAGES.includes(kept)) return kept;
  } catch {
    // storage may be off (private modes); the browser's languages still decide
  }
  for (const tag of languages ?? []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function keepLanguage(lang) {
  try {
    globalThis.localStorage?.setItem(STORE_KEY, lang);
  } catch {
    // not kept: the choice holds for this visit only
  }
}

/** The text `key` in `lang` with `{name}` placeholders filled from `params` (missing ones shown as "—"). */
export function t(lang, key, params = {}) {
  const template = STRINGS[lang]?.[key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? "—").toString());
}
