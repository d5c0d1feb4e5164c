/* trail replay: the page's only script.
 *
 * It reads the session from JSON blocks of this page (nothing is fetched), draws the list of steps virtually (only
 * the rows on screen exist, so 5,000 steps cost what 50 do), and parses a step's body and code change only when the
 * step is shown. Text from the session is inserted as text (textContent, append of strings); the one exception is
 * Markdown, which trail rendered to HTML with raw HTML off and only http, https and mailto links.
 */
"use strict";
(() => {
  const doc = document;
  const byId = (id) => doc.getElementById(id);
  const h = (tag, cls, text) => {
    const e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const timings = { script: performance.now() };
  const index = JSON.parse(byId("trail-index").textContent);
  const blocks = new Map();

  /* A JSON block of the page, parsed on first use; undefined while the browser has not read all of it yet. */
  function block(id) {
    if (blocks.has(id)) return blocks.get(id);
    const e = byId(id);
    // An element the parser is still filling has no next sibling yet: its text may be incomplete.
    if (!e || (doc.readyState === "loading" && !e.nextElementSibling)) return undefined;
    const value = JSON.parse(e.textContent);
    blocks.set(id, value);
    return value;
  }

  /* -- numbers and times ------------------------------------------------------------------------------------------ */
  const int = (n) => Number(n || 0).toLocaleString("en-US");
  const short = (n) =>
    n >= 1e6 ? (n / 1e6).toFixed(n >= 1e8 ? 0 : 1) + "M" : n >= 1e4 ? Math.round(n / 1e3) + "k" : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(n);
  const pad = (n) => (n < 10 ? "0" : "") + n;
  const clock = (ms) => {
    const d = new Date(ms);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };
  const dateTime = (ms) => {
    const d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(ms);
  };
  const span = (ms) => {
    if (ms < 0) return "−" + span(-ms);
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + " s";
    const m = Math.floor(ms / 60000);
    if (m < 60) return m + " min " + Math.floor((ms % 60000) / 1000) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  };
  const plural = (n, word) => int(n) + " " + word + (n === 1 ? "" : "s");

  /* -- syntax colouring: a small tokenizer per language family (comments, strings, numbers, keywords) --------------- */
  const KEYWORDS = {
    py: "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda match nonlocal not or pass raise return self try while with yield",
    js: "as async await break case catch class const continue default delete do else enum export extends false finally for from function if implements import in instanceof interface let new null of private protected public readonly return static super switch this throw true try type typeof undefined var void while yield",
    go: "break case chan const continue default defer else fallthrough false for func go goto if import interface map nil package range return select struct switch true type var",
    rs: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while",
    c: "auto bool break case catch char class const constexpr continue default delete do double else enum extern false float for goto if include define inline int long namespace new nullptr private protected public return short signed sizeof static struct switch template this throw true try typedef typename union unsigned using virtual void volatile while",
    java: "abstract boolean break byte case catch char class const continue data default do double else enum extends false final finally float for fun if implements import in instanceof int interface is long new null object override package private protected public return short static super switch synchronized this throw throws true try val var void volatile when while",
    sh: "case do done elif else esac exit export fi for function if in local readonly return set then unset until while",
    rb: "alias and begin break case class def defined do else elsif end ensure false for if in module next nil not or redo rescue retry return self super then true undef unless until when while yield",
    sql: "add alter and as asc between by case create delete desc distinct drop else end exists from group having in index inner insert into is join key left like limit not null on or order outer primary right select set table then union update values when where",
    json: "true false null",
    yaml: "true false null yes no on off",
    css: "important",
    plain: "",
  };
  const COMMENTS = { py: "#.*", sh: "#.*", rb: "#.*", yaml: "#.*", sql: "--.*", css: "/\\*.*?(?:\\*/|$)", json: null, plain: null };
  const EXTENSIONS = {
    py: "py", pyi: "py", pyx: "py", js: "js", mjs: "js", cjs: "js", jsx: "js", ts: "js", tsx: "js", mts: "js", vue: "js", php: "js",
    go: "go", rs: "rs", swift: "rs", c: "c", h: "c", cc: "c", cpp: "c", cxx: "c", hpp: "c", m: "c", cs: "java", java: "java",
    kt: "java", kts: "java", scala: "java", dart: "java", sh: "sh", bash: "sh", zsh: "sh", fish: "sh", rb: "rb", sql: "sql",
    json: "json", jsonl: "json", yml: "yaml", yaml: "yaml", toml: "yaml", ini: "yaml", cfg: "yaml", conf: "yaml",
    css: "css", scss: "css", less: "css", tf: "sh", r: "py", pl: "sh", lua: "sql", dockerfile: "sh", makefile: "sh",
  };
  const ALIASES = { python: "py", python3: "py", javascript: "js", typescript: "js", node: "js", golang: "go", rust: "rs",
    "c++": "c", cpp: "c", csharp: "java", kotlin: "java", bash: "sh", shell: "sh", console: "sh", zsh: "sh", shellsession: "sh",
    ruby: "rb", yml: "yaml", toml: "yaml", ini: "yaml", jsonc: "json", diff: null };
  const patterns = new Map();

  function pattern(lang) {
    if (patterns.has(lang)) return patterns.get(lang);
    let re = null;
    if (lang in KEYWORDS) {
      const comment = lang in COMMENTS ? COMMENTS[lang] : "//.*|/\\*.*?(?:\\*/|$)";
      const strings = "\"(?:[^\"\\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\\n]|\\\\.)*'" + (lang === "js" || lang === "go" ? "|`(?:[^`\\\\]|\\\\.)*`" : "");
      const words = KEYWORDS[lang] ? "|\\b(" + KEYWORDS[lang].split(" ").join("|") + ")\\b" : "";
      re = new RegExp("(" + (comment || "(?!)") + ")" + "|(" + strings + ")|\\b(\\d[\\w.]*)" + words, lang === "sql" ? "gi" : "g");
    }
    patterns.set(lang, re);
    return re;
  }
  function langOfPath(path) {
    const name = path.split("/").pop().toLowerCase();
    if (name === "dockerfile" || name === "makefile") return "sh";
    const dot = name.lastIndexOf(".");
    return dot < 0 ? null : EXTENSIONS[name.slice(dot + 1)] || null;
  }
  /* Append `code` (one line) to `node`, coloured: each token a span whose text is set as text. */
  function paint(node, code, lang) {
    const re = lang ? pattern(lang) : null;
    if (!re || code.length > 1000) {
      node.append(code);
      return;
    }
    re.lastIndex = 0;
    let last = 0;
    let m;
    while ((m = re.exec(code)) !== null) {
      if (m[0] === "") {
        re.lastIndex++;
        continue;
      }
      if (m.index > last) node.append(code.slice(last, m.index));
      node.append(h("span", m[1] !== undefined ? "tc" : m[2] !== undefined ? "ts" : m[3] !== undefined ? "tn" : "tk", m[0]));
      last = re.lastIndex;
    }
    if (last < code.length) node.append(code.slice(last));
  }
  function paintBlock(node, text, lang) {
    if (!lang || text.length > 200000) {
      node.append(text);
      return;
    }
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      paint(node, lines[i], lang);
      if (i < lines.length - 1) node.append("\n");
    }
  }
  function paintMarkdownCode(root) {
    for (const code of root.querySelectorAll("pre > code[class^='language-']")) {
      const name = code.className.slice(9).toLowerCase();
      const lang = name in ALIASES ? ALIASES[name] : name in KEYWORDS ? name : EXTENSIONS[name] || null;
      if (!lang) continue;
      const text = code.textContent;
      code.textContent = "";
      paintBlock(code, text, lang);
    }
  }

  /* -- kinds ------------------------------------------------------------------------------------------------------ */
  const KIND_LABELS = { session_start: "start", session_end: "end", tool_call: "tool", external_change: "external",
    user_commit: "commit", file_edit: "edit" };
  const kindClass = (kind) => "k-" + (/^[a-z_]+$/.test(kind) ? kind : "other");
  function badge(kind, failed, long) {
    return h("span", "badge " + kindClass(kind) + (failed ? " failed" : ""), long ? kind.replace(/_/g, " ") : KIND_LABELS[kind] || kind);
  }

  /* -- long text -------------------------------------------------------------------------------------------------- */
  const FOLD_LINES = 20;
  const FOLD_CHARS = 1600;
  /* Where a long text is folded: after FOLD_LINES lines or FOLD_CHARS characters, whichever comes first. */
  function foldAt(text) {
    let at = -1;
    for (let i = 0; i < FOLD_LINES; i++) {
      at = text.indexOf("\n", at + 1);
      if (at < 0) return Math.min(text.length, FOLD_CHARS);
    }
    return Math.min(at, FOLD_CHARS);
  }
  function longText(text, tone) {
    const box = h("div");
    const pre = h("pre", "out" + (tone ? " " + tone : ""));
    const lang = tone === "code" ? (text[0] === "$" ? "sh" : text[0] === "{" || text[0] === "[" ? "json" : null) : null;
    const cut = foldAt(text);
    if (cut >= text.length - 200) {
      paintBlock(pre, text, lang);
      box.append(pre);
      return box;
    }
    paintBlock(pre, text.slice(0, cut), lang);
    const lines = text.split("\n").length;
    const rest = h("button", "more", "Show all " + plural(lines, "line") + " (" + short(text.length) + " characters)");
    rest.type = "button";
    rest.addEventListener("click", () => {
      pre.textContent = "";
      paintBlock(pre, text, lang);
      rest.remove();
    });
    box.append(pre, rest);
    return box;
  }

  /* -- code changes ----------------------------------------------------------------------------------------------- */
  const DIFF_ROWS = 600;
  function renderPatch(text, lang, first) {
    const wrap = h("div", "diff-scroll");
    const table = h("table", "diff");
    const tbody = h("tbody");
    table.append(tbody);
    wrap.append(table);
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    const state = { i: 0, old: 0, now: 0 };
    const row = (cls, a, b, sign, code) => {
      const tr = h("tr", cls);
      const c = h("td");
      if (sign !== null) {
        c.append(h("span", "sg", sign));
        paint(c, code, lang);
      } else c.append(code);
      tr.append(h("td", "ln", a), h("td", "ln", b), c);
      tbody.append(tr);
    };
    const more = (count) => {
      const end = Math.min(lines.length, state.i + count);
      for (; state.i < end; state.i++) {
        const line = lines[state.i];
        const c = line[0];
        if (line.startsWith("@@")) {
          const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)/.exec(line);
          if (m) {
            state.old = +m[1];
            state.now = +m[2];
          }
          row("h", "", "", null, line);
        } else if (c === "+") row("a", "", state.now++, "+", line.slice(1));
        else if (c === "-") row("d", state.old++, "", "−", line.slice(1));
        else if (c === "\\") row("m", "", "", null, line.slice(2));
        else row("", state.old++, state.now++, " ", line.slice(1));
      }
      if (state.i < lines.length) {
        const tr = h("tr", "m");
        const td = h("td");
        td.colSpan = 3;
        const b = h("button", "more", "Show " + plural(lines.length - state.i, "more line"));
        b.type = "button";
        b.addEventListener("click", () => {
          tr.remove();
          more(lines.length);
        });
        td.append(b);
        tr.append(td);
        tbody.append(tr);
      }
    };
    more(first);
    return wrap;
  }
  /* A change's files, then each file's diff; past DIFF_BUDGET rows in all, a file waits for a click (a step that
     rewrote a thousand files shows at once, and its diffs on demand). */
  const DIFF_BUDGET = 400;
  function renderChange(entry) {
    const box = h("div", "part change");
    const files = entry.f || [];
    let add = 0;
    let del = 0;
    for (const f of files) {
      add += f[3];
      del += f[4];
    }
    const label = h("div", "label", "Files changed (" + files.length + ") ");
    label.append(h("span", "add", "+" + int(add)), " ", h("span", "del", "−" + int(del)));
    box.append(label);
    const list = h("ul", "files");
    const blocksOut = [];
    let budget = DIFF_BUDGET;
    files.forEach((f, i) => {
      const [status, path, old, a, d, binary] = f;
      const name = old ? old + " → " + path : path;
      const li = h("li");
      const p = h("span", "path", name);
      p.title = "Show this file's change";
      li.append(h("span", "st st-" + status, status), p);
      li.append(binary ? h("span", "muted", "binary") : h("span", "add", a ? "+" + a : ""), binary ? "" : h("span", "del", d ? "−" + d : ""));
      list.append(li);
      const file = h("div", "file");
      const head = h("div", "file-head");
      head.append(h("span", "st st-" + status, status), h("span", "path", name));
      if (!binary) head.append(h("span", "add", "+" + a), h("span", "del", "−" + d));
      file.append(head);
      const patch = (entry.p || [])[i];
      if (binary) file.append(h("div", "file-note", "Binary file: not shown."));
      else if (patch === null || patch === undefined) file.append(h("div", "file-note", "Patch not in this page."));
      else if (patch === "") file.append(h("div", "file-note", "No change to the content (mode or name only)."));
      else if (budget <= 0) {
        const b = h("button", "more", "Show this diff (" + plural(a + d, "changed line") + ")");
        b.type = "button";
        b.addEventListener("click", () => b.replaceWith(renderPatch(patch, langOfPath(path), DIFF_ROWS)));
        file.append(b);
      } else {
        file.append(renderPatch(patch, langOfPath(path), Math.min(DIFF_ROWS, budget)));
        budget -= patch.length ? Math.min(DIFF_ROWS, patch.split("\n").length) : 0;
      }
      p.addEventListener("click", () => file.scrollIntoView({ block: "start" }));
      blocksOut.push(file);
    });
    box.append(list, ...blocksOut);
    if (entry.n) box.append(h("div", "file-note", entry.n));
    return box;
  }

  /* The web UI's page of one change between two steps. */
  if (index.mode === "diff") {
    byId("title").textContent = index.title || "Change";
    byId("meta").textContent = index.heading || "";
    const nav = byId("links");
    for (const [text, href] of (index.links && index.links.nav) || []) {
      const a = h("a", null, text);
      a.href = href;
      nav.append(a);
    }
    const main = byId("diff-page");
    if (index.change && index.change.f && index.change.f.length) main.append(renderChange(index.change));
    else main.append(h("p", "empty", "No file differs between these two steps."));
    return;
  }

  /* -- the session ------------------------------------------------------------------------------------------------ */
  const S = index.sessions || [];
  const KINDS = index.kinds || [];
  const MODELS = index.models || [];
  const CHUNK = index.chunk || 100;
  const DIFF_CHUNK = index.diffChunk || 50;
  const children = new Map();
  S.forEach((s, si) => {
    if (!s.parent) return;
    const key = s.parent[0] + ":" + s.parent[1];
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(si);
  });
  const stepBody = (si, n) => {
    const chunk = block("b-" + si + "-" + Math.floor((n - 1) / CHUNK));
    return chunk ? chunk[(n - 1) % CHUNK] : undefined;
  };
  const changeEntry = (d) => {
    const chunk = block("d-" + Math.floor(d / DIFF_CHUNK));
    return chunk ? chunk[d % DIFF_CHUNK] : undefined;
  };
  const running = new Map();
  function runningTotal(si, n) {
    if (!running.has(si)) {
      const rows = S[si].rows;
      const sums = new Float64Array(rows.length);
      let total = 0;
      rows.forEach((r, i) => {
        total += (r[3] || 0) + (r[4] || 0);
        sums[i] = total;
      });
      running.set(si, sums);
    }
    return running.get(si)[n - 1];
  }
  const hashFor = (si, n) => "#" + (S[si].key ? S[si].key + "-" : "") + "step-" + n;
  function fromHash() {
    const m = /^#(?:(.+)-)?step-(\d+)$/.exec(location.hash);
    if (!m) return null;
    let key = "";
    try {
      key = m[1] ? decodeURIComponent(m[1]) : "";
    } catch (e) {
      return null;
    }
    const si = S.findIndex((s) => s.key === key);
    return si < 0 ? null : [si, parseInt(m[2], 10)];
  }

  /* -- state ------------------------------------------------------------------------------------------------------ */
  const list = byId("list");
  const space = byId("list-space");
  const detail = byId("detail");
  const strip = byId("strip");
  const jump = byId("jump");
  const filter = byId("filter");
  const help = byId("help");
  const ROW = 30;
  let cur = null;
  let rows = [];
  let rowOf = new Map();
  const open = new Set();
  let query = "";
  const kindsOn = new Set();
  let fullText = null;
  let waiting = false;
  let timer = 0;
  const at = (si, n) => si * 1e7 + n;

  /* -- header ----------------------------------------------------------------------------------------------------- */
  function renderHeader() {
    const main = S[0];
    byId("title").textContent = index.title || (main && main.handle) || "Session";
    const meta = byId("meta");
    if (main) {
      const who = h("span");
      who.append(h("b", null, main.handle), " · " + (main.agent || "agent") + (main.model ? " (" + main.model + ")" : ""));
      meta.append(who);
      const rows0 = main.rows;
      meta.append(h("span", null, "started " + dateTime(main.t0)));
      if (rows0.length) meta.append(h("span", null, "lasted " + span(rows0[rows0.length - 1][1])));
      meta.append(h("span", null, plural(rows0.length, "step") + (main.ended ? ", ended" : "")));
      if (main.origin) {
        const [name, step, href, relation] = main.origin;
        const origin = h("span", "origin", (relation || "a subagent of") + " ");
        const label = name + (step ? "@" + step : "");
        if (href) {
          const a = h("a", null, label);
          a.href = href;
          origin.append(a);
        } else origin.append(label);
        meta.append(origin);
      }
    }
    meta.append(h("span", null, "trail replay, made " + (index.generated || "").replace("T", " ")));
    const stats = byId("stats");
    const t = index.totals || {};
    const stat = (label, value) => {
      const e = h("span", "stat");
      e.append(h("b", null, value), " " + label);
      stats.append(e);
    };
    stat("tokens in", int(t.in));
    stat("tokens out", int(t.out));
    for (const m of t.models || []) {
      const e = h("span", "stat");
      e.title = int(m[1]) + " responses; cache reads " + int(m[4]) + ", cache writes " + int(m[5]);
      e.append(m[0] + ": ", h("b", null, short(m[2])), " in / ", h("b", null, short(m[3])), " out");
      stats.append(e);
    }
    if (S.length > 1) stat(S.length - 1 === 1 ? "subagent" : "subagents", int(S.length - 1));
    if (S.length > 1) stat("steps in all", int(t.steps));
    const nav = byId("links");
    for (const [text, href] of (index.links && index.links.nav) || []) {
      const a = h("a", null, text);
      a.href = href;
      nav.append(a);
    }
    renderTrace();
  }

  /* The sessions of this session's trace, across processes: each under the step that started it. */
  function renderTrace() {
    const rows = index.trace;
    const box = byId("trace");
    if (!box || !rows || !rows.length) return;
    const sessions = rows.filter((r) => r.handle !== undefined).length;
    const details = h("details", "trace");
    details.append(h("summary", null, "Trace · " + plural(sessions, "session") + " across processes"));
    const list = h("div", "trace-rows");
    for (const r of rows) {
      const e = h("div", r.handle !== undefined ? "trace-row session" + (r.here ? " here" : "") : "trace-row step");
      e.style.setProperty("--depth", String(r.d));
      const label = r.handle !== undefined ? r.handle : "@" + r.n + (r.kind ? " " + r.kind : "");
      let target = h("span", "name", label);
      if (r.href) {
        target = h("a", "name", label);
        target.href = r.href;
      }
      e.append(h("span", "tw", r.handle !== undefined ? "◆" : "↳"), target);
      if (r.handle !== undefined) {
        e.append(h("span", "what", (r.agent || "agent") + " · " + plural(r.steps, "step") + (r.title ? " · " + r.title : "")));
        if (r.here) e.append(h("span", "mark", "this page"));
        if (r.from) e.append(h("span", "what", "started by " + r.from + ", not recorded here"));
      } else if (r.summary) e.append(h("span", "what", r.summary));
      list.append(e);
    }
    details.append(list);
    details.open = sessions <= 6;
    box.append(details);
  }

  /* -- filter ----------------------------------------------------------------------------------------------------- */
  const lowered = new Map();
  function summaryText(si) {
    if (!lowered.has(si)) lowered.set(si, S[si].rows.map((r) => (r[2] + " " + KINDS[r[0]] + " " + (MODELS[r[5]] || "")).toLowerCase()));
    return lowered.get(si);
  }
  function matches(si, i) {
    const r = S[si].rows[i];
    if (kindsOn.size && !(kindsOn.has(r[0]) || (kindsOn.has("failed") && r[7] & 1))) return false;
    if (!query) return true;
    if (summaryText(si)[i].includes(query)) return true;
    const text = fullText && fullText.done && fullText.text[si];
    return !!(text && text[i] && text[i].includes(query));
  }
  const ENTITIES = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'" };
  function partsText(body) {
    const out = [];
    for (const p of body.p || []) {
      if (p[0] === "md") out.push(p[2].replace(/<[^>]*>/g, " ").replace(/&(?:lt|gt|amp|quot|#39);/g, (e) => ENTITIES[e]));
      else if (p[0] === "pre") out.push(p[2]);
      else if (p[0] === "list") out.push(p[2].join("\n"));
      else if (p[0] === "kv") for (const kv of p[2]) out.push(kv[0] + " " + kv[1]);
    }
    if (body.d !== undefined) {
      const c = changeEntry(body.d);
      if (c) for (const f of c.f) out.push(f[1]);
    }
    return out.join("\n").toLowerCase();
  }
  /* Full-text search reads every step body once, a chunk per task, so typing never freezes the page. */
  function startFullText() {
    if (fullText) return;
    fullText = { done: false, text: S.map(() => []) };
    const jobs = [];
    S.forEach((s, si) => {
      for (let c = 0; c * CHUNK < s.rows.length; c++) jobs.push([si, c]);
    });
    const step = () => {
      if (doc.readyState === "loading") {
        doc.addEventListener("DOMContentLoaded", step, { once: true });
        return;
      }
      const started = performance.now();
      while (jobs.length && performance.now() - started < 12) {
        const [si, c] = jobs.shift();
        const chunk = block("b-" + si + "-" + c) || [];
        chunk.forEach((body, i) => {
          fullText.text[si][c * CHUNK + i] = partsText(body);
        });
      }
      if (jobs.length) setTimeout(step, 0);
      else {
        fullText.done = true;
        if (query) applyFilter(true);
      }
    };
    setTimeout(step, 0);
  }
  function renderKinds() {
    const box = byId("kinds");
    const counts = new Map();
    let failed = 0;
    for (const s of S)
      for (const r of s.rows) {
        counts.set(r[0], (counts.get(r[0]) || 0) + 1);
        if (r[7] & 1) failed++;
      }
    const chips = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, KINDS[k], n]);
    if (failed) chips.push(["failed", "failed", failed]);
    for (const [key, name, n] of chips) {
      const b = h("button", "chip " + (key === "failed" ? "failed" : kindClass(name)));
      b.type = "button";
      b.title = "Show only " + name.replace(/_/g, " ") + " steps (click again to show all)";
      b.append(h("span", "dot"), (KIND_LABELS[name] || name) + " ", h("span", "muted", short(n)));
      b.addEventListener("click", () => {
        if (kindsOn.has(key)) kindsOn.delete(key);
        else kindsOn.add(key);
        b.classList.toggle("on", kindsOn.has(key));
        applyFilter();
      });
      box.append(b);
    }
  }
  let filterTimer = 0;
  filter.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => applyFilter(), 120);
  });
  function applyFilter(keepScroll) {
    query = filter.value.trim().toLowerCase();
    const top = list.scrollTop;
    buildRows();
    const total = S.reduce((n, s) => n + s.rows.length, 0);
    const filtering = query !== "" || kindsOn.size > 0;
    let shown = 0;
    for (const r of rows) if (r[1]) shown++;
    byId("shown").textContent = filtering ? int(shown) + " of " + plural(total, "step") + (query && fullText && !fullText.done ? " (searching…)" : "") : "";
    const ri = cur ? rowOf.get(at(cur[0], cur[1])) : undefined;
    if (keepScroll) list.scrollTop = top;
    else if (ri !== undefined) reveal(ri, true);
    else list.scrollTop = 0;
    renderList();
    drawStrip();
    if (query && !fullText) startFullText();
  }

  /* -- the list of steps (virtual: only the rows on screen exist) ------------------------------------------------- */
  function buildRows() {
    const out = [];
    const filtering = query !== "" || kindsOn.size > 0;
    const walk = (si, depth) => {
      const rs = S[si].rows;
      for (let i = 0; i < rs.length; i++) {
        if (!filtering || matches(si, i)) out.push([si, i + 1, depth]);
        const kids = children.get(si + ":" + (i + 1));
        if (!kids) continue;
        for (const c of kids) {
          if (filtering) walk(c, depth + 1);
          else {
            out.push([c, 0, depth + 1]);
            if (open.has(c)) walk(c, depth + 1);
          }
        }
      }
    };
    if (S.length) walk(0, 0);
    rows = out;
    space.style.height = rows.length * ROW + "px";
    rowOf = new Map();
    rows.forEach((r, i) => {
      if (r[1]) rowOf.set(at(r[0], r[1]), i);
    });
  }
  let listFrame = 0;
  function renderList() {
    listFrame = 0;
    const top = list.scrollTop;
    const height = list.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / ROW) - 8);
    const last = Math.min(rows.length, Math.ceil((top + height) / ROW) + 8);
    const frag = doc.createDocumentFragment();
    for (let i = first; i < last; i++) frag.append(rowElement(i));
    if (!rows.length) frag.append(h("div", "empty", S.length ? "No step matches the filter." : "This session has no steps."));
    space.replaceChildren(frag);
  }
  function rowElement(i) {
    const [si, n, depth] = rows[i];
    const e = h("div", "row");
    e.style.top = i * ROW + "px";
    if (depth) e.style.setProperty("--depth", String(depth));
    e.dataset.row = String(i);
    const s = S[si];
    if (n === 0) {
      e.className = "row sub" + (open.has(si) ? " open" : "");
      const tokens = s.tokens[0] + s.tokens[1];
      e.title = (open.has(si) ? "Hide" : "Show") + " this subagent's steps (x)";
      e.append(h("span", "tw", "▸"), h("span", "sum", "subagent " + s.key + " · " + plural(s.rows.length, "step") + (tokens ? " · " + short(tokens) + " tokens" : "") + (s.title ? " · " + s.title : "")));
      return e;
    }
    const r = s.rows[n - 1];
    e.setAttribute("role", "option");
    if (cur && cur[0] === si && cur[1] === n) {
      e.classList.add("sel");
      e.setAttribute("aria-selected", "true");
    }
    e.append(h("span", "n", n), badge(KINDS[r[0]], r[7] & 1), h("span", "sum", r[2]));
    if (r[3] !== null || r[4] !== null) {
      const tok = h("span", "tok", short((r[3] || 0) + (r[4] || 0)));
      tok.title = int(r[3]) + " tokens in, " + int(r[4]) + " out";
      e.append(tok);
    }
    e.append(h("span", "t", clock(s.t0 + r[1])));
    return e;
  }
  function reveal(ri, center) {
    const top = ri * ROW;
    const height = list.clientHeight || 800;
    if (center) list.scrollTop = Math.max(0, top - height / 2 + ROW);
    else if (top < list.scrollTop) list.scrollTop = top - ROW;
    else if (top + ROW > list.scrollTop + height) list.scrollTop = top + 2 * ROW - height;
  }
  list.addEventListener("scroll", () => {
    if (!listFrame) listFrame = requestAnimationFrame(renderList);
  });
  list.addEventListener("click", (ev) => {
    const e = ev.target.closest(".row");
    if (!e) return;
    const [si, n] = rows[+e.dataset.row];
    if (n === 0) toggle(si);
    else select(si, n);
  });
  function toggle(si) {
    if (open.has(si)) open.delete(si);
    else open.add(si);
    buildRows();
    renderList();
  }

  /* -- one step --------------------------------------------------------------------------------------------------- */
  function fact(box, label, value) {
    const e = h("span");
    e.append(label + " ", typeof value === "string" ? h("b", null, value) : value);
    box.append(e);
  }
  function renderPart(part, kind) {
    const [type, label] = part;
    const wrap = h("div", "part");
    if (type === "md") {
      const md = h("div", "md");
      md.innerHTML = part[2]; // trail's own rendering: raw HTML off, links checked (views/markup.py)
      paintMarkdownCode(md);
      if (part[3]) {
        const d = h("details", "think");
        d.append(h("summary", null, label || "Details"), md);
        wrap.append(d);
        return wrap;
      }
      if (label) wrap.append(h("div", "label", label));
      if (kind === "prompt") md.classList.add("prompt-body");
      wrap.append(md);
    } else if (type === "pre") {
      if (label) wrap.append(h("div", "label", label));
      wrap.append(longText(part[2], part[3]));
    } else if (type === "list") {
      if (label) wrap.append(h("div", "label", label));
      const ul = h("ul", "items");
      for (const item of part[2]) ul.append(h("li", null, item));
      wrap.append(ul);
    } else if (type === "kv") {
      if (label) wrap.append(h("div", "label", label));
      const table = h("table", "kv");
      for (const [k, v] of part[2]) {
        const tr = h("tr");
        const td = h("td");
        if (v.length > 120 || v.includes("\n")) td.append(longText(v, v[0] === "{" || v[0] === "[" ? "code" : ""));
        else td.textContent = v;
        tr.append(h("th", null, k), td);
        table.append(tr);
      }
      wrap.append(table);
    }
    return wrap;
  }
  function renderDetail() {
    waiting = false;
    if (!cur) {
      detail.replaceChildren(h("div", "empty", "This session has no steps."));
      return;
    }
    const [si, n] = cur;
    const s = S[si];
    const r = s.rows[n - 1];
    const kind = KINDS[r[0]];
    const out = [];
    const head = h("div", "step-head");
    head.append(h("h2", null, "Step " + int(n) + " of " + int(s.rows.length)), badge(kind, r[7] & 1, true));
    out.push(head);
    if (si) {
      const p = s.parent;
      const line = h("div", "parentage", "Subagent " + s.key + (s.agent ? " (" + s.agent + ")" : "") + ", started by ");
      const a = h("a", null, "step " + p[1] + (p[0] ? " of subagent " + S[p[0]].key : ""));
      a.href = hashFor(p[0], p[1]);
      line.append(a);
      out.push(line);
    }
    // A prompt's or an answer's summary is its first line, which the body shows anyway.
    if (!["prompt", "response", "decision", "note"].includes(kind)) out.push(h("div", "step-sum", r[2]));
    const facts = h("div", "facts");
    fact(facts, "at", dateTime(s.t0 + r[1]));
    if (n > 1) fact(facts, "after the previous step", "+" + span(r[1] - s.rows[n - 2][1]));
    if (r[3] !== null || r[4] !== null) fact(facts, "tokens", int(r[3]) + " in / " + int(r[4]) + " out");
    const total = runningTotal(si, n);
    if (total) fact(facts, "running total", int(total));
    if (r[5] >= 0) fact(facts, "model", MODELS[r[5]]);
    const body = stepBody(si, n);
    if (body) {
      fact(facts, "commit", body.c.slice(0, 12));
      for (const [k, v] of body.m || []) fact(facts, k, v);
    }
    if (s.links) {
      const files = h("a", null, "files at this step");
      files.href = s.links.files.replace("{n}", String(n));
      facts.append(files);
      const form = h("span", "compare");
      const input = h("input");
      input.type = "text";
      input.inputMode = "numeric";
      input.placeholder = n > 1 ? String(n - 1) : "1";
      input.setAttribute("aria-label", "Compare with step");
      const go = h("button", null, "compare");
      go.type = "button";
      const compare = () => {
        const from = parseInt(input.value || input.placeholder, 10);
        if (from >= 1 && from <= s.rows.length) location.href = s.links.diff.replace("{a}", String(from)).replace("{b}", String(n));
      };
      go.addEventListener("click", compare);
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") compare();
      });
      form.append("diff with step ", input, go);
      facts.append(form);
    }
    out.push(facts);
    if (!body) {
      out.push(h("p", "loading", "Reading this step…"));
      waiting = true;
    } else {
      for (const part of body.p || []) out.push(renderPart(part, kind));
      const kids = children.get(si + ":" + n) || [];
      if (kids.length) {
        const subs = h("div", "subs");
        subs.append(h("div", "label", "Subagents started here"));
        for (const c of kids) {
          const b = h("button");
          b.type = "button";
          const tokens = S[c].tokens[0] + S[c].tokens[1];
          b.append("▸ " + S[c].key + " ", h("small", null, plural(S[c].rows.length, "step") + (tokens ? " · " + int(tokens) + " tokens" : "") + (S[c].title ? " · " + S[c].title : "")));
          b.addEventListener("click", () => select(c, 1));
          subs.append(b);
        }
        out.push(subs);
      }
      const spawned = (s.spawned || {})[String(n)] || [];
      if (spawned.length) {
        const subs = h("div", "subs spawned");
        subs.append(h("div", "label", "Sessions started here, in other processes"));
        for (const c of spawned) {
          const e = h(c.href ? "a" : "div", "spawn");
          if (c.href) e.href = c.href;
          e.append("↳ " + c.handle + " ", h("small", null, (c.agent || "agent") + " · " + plural(c.steps, "step") + (c.title ? " · " + c.title : "")));
          subs.append(e);
        }
        out.push(subs);
      }
      if (body.d !== undefined) {
        const entry = changeEntry(body.d);
        if (entry) out.push(renderChange(entry));
        else {
          out.push(h("p", "loading", "Reading this step's change…"));
          waiting = true;
        }
      }
    }
    detail.replaceChildren(...out);
    detail.scrollTop = 0;
    if (waiting) delete doc.body.dataset.shown;
    else doc.body.dataset.shown = hashFor(si, n).slice(1);
  }

  /* -- the timeline strip: every step of the session, by kind; click or drag to move ----------------------------- */
  let stripImage = null;
  function drawStrip() {
    const w = strip.clientWidth;
    const hgt = strip.clientHeight;
    if (!w || !hgt || !S.length) return;
    const dpr = window.devicePixelRatio || 1;
    if (strip.width !== Math.round(w * dpr)) {
      strip.width = Math.round(w * dpr);
      strip.height = Math.round(hgt * dpr);
      stripImage = null;
    }
    const ctx = strip.getContext("2d");
    const rs = S[0].rows;
    const N = rs.length || 1;
    const bar = w / N;
    if (!stripImage) {
      const css = getComputedStyle(doc.documentElement);
      const color = (name) => css.getPropertyValue("--k-" + name).trim() || css.getPropertyValue("--k-other").trim();
      const colors = KINDS.map((k) => color(/^[a-z_]+$/.test(k) ? k : "other"));
      const failed = color("failed");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, hgt);
      for (const pass of [0, 1]) {
        for (let i = 0; i < rs.length; i++) {
          const kind = KINDS[rs[i][0]];
          const strong = kind === "prompt" || kind === "decision" || (rs[i][7] & 1) === 1;
          if ((pass === 1) !== strong) continue;
          ctx.fillStyle = rs[i][7] & 1 ? failed : colors[rs[i][0]];
          ctx.globalAlpha = strong ? 1 : 0.55;
          const y = strong ? 3 : 7;
          ctx.fillRect(i * bar, y, Math.max(bar - (bar > 3 ? 1 : 0), strong ? 2 : 1), hgt - 2 * y);
        }
      }
      ctx.globalAlpha = 1;
      stripImage = ctx.getImageData(0, 0, strip.width, strip.height);
    } else ctx.putImageData(stripImage, 0, 0);
    if (cur) {
      let [si, n] = cur;
      while (si && S[si].parent) [si, n] = S[si].parent;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = getComputedStyle(doc.documentElement).getPropertyValue("--fg").trim();
      ctx.fillRect(Math.min(w - 2, (n - 1) * bar + bar / 2 - 1), 0, 2, hgt);
    }
  }
  let dragging = false;
  const stripAt = (ev) => {
    const rect = strip.getBoundingClientRect();
    const N = S[0].rows.length;
    const n = Math.min(N, Math.max(1, Math.floor(((ev.clientX - rect.left) / rect.width) * N) + 1));
    if (!cur || cur[0] !== 0 || cur[1] !== n) select(0, n);
  };
  strip.addEventListener("pointerdown", (ev) => {
    if (!S.length || !S[0].rows.length) return;
    dragging = true;
    strip.setPointerCapture(ev.pointerId);
    stripAt(ev);
  });
  strip.addEventListener("pointermove", (ev) => {
    if (dragging) stripAt(ev);
  });
  strip.addEventListener("pointerup", () => {
    dragging = false;
  });

  /* -- moving ----------------------------------------------------------------------------------------------------- */
  function select(si, n, opts) {
    if (!S[si] || !S[si].rows.length) return;
    n = Math.max(1, Math.min(S[si].rows.length, n | 0));
    cur = [si, n];
    let changed = false;
    for (let c = si; S[c].parent; c = S[c].parent[0]) {
      if (!open.has(c)) {
        open.add(c);
        changed = true;
      }
    }
    if (changed) buildRows();
    const ri = rowOf.get(at(si, n));
    if (ri !== undefined) reveal(ri, opts && opts.center);
    renderList();
    renderDetail();
    drawStrip();
    jump.value = String(n);
    byId("count").textContent = "of " + int(S[si].rows.length) + (si ? " (" + S[si].key + ")" : "");
    if (!(opts && opts.keepHash)) {
      const hash = hashFor(si, n);
      if (location.hash !== hash) {
        try {
          history.replaceState(null, "", hash);
        } catch (e) {
          location.replace(hash);
        }
      }
    }
  }
  function move(delta, test) {
    if (!rows.length) return false;
    let ri = cur ? rowOf.get(at(cur[0], cur[1])) : undefined;
    if (ri === undefined) ri = delta > 0 ? -1 : rows.length;
    for (let i = ri + delta; i >= 0 && i < rows.length; i += delta) {
      const [si, n] = rows[i];
      if (n && (!test || test(si, n))) {
        select(si, n);
        return true;
      }
    }
    return false;
  }
  const isKind = (name) => (si, n) => KINDS[S[si].rows[n - 1][0]] === name;
  const isFailed = (si, n) => (S[si].rows[n - 1][7] & 1) === 1;
  function play(on) {
    clearInterval(timer);
    timer = 0;
    doc.body.classList.toggle("playing", on);
    byId("play").setAttribute("aria-label", on ? "Pause" : "Play");
    if (on)
      timer = setInterval(() => {
        if (!move(1)) play(false);
      }, 900);
  }
  function doJump() {
    const m = /^\s*[#@]?(?:step-)?(\d+)\s*$/.exec(jump.value);
    const si = cur ? cur[0] : 0;
    if (!m || +m[1] < 1 || +m[1] > S[si].rows.length) {
      jump.setCustomValidity("steps are 1 to " + S[si].rows.length);
      jump.reportValidity();
      return;
    }
    jump.setCustomValidity("");
    select(si, +m[1], { center: true });
    jump.blur();
  }
  byId("prev").addEventListener("click", () => move(-1));
  byId("next").addEventListener("click", () => move(1));
  byId("play").addEventListener("click", () => play(!timer));
  byId("help-button").addEventListener("click", () => {
    help.hidden = !help.hidden;
  });
  help.addEventListener("click", (ev) => {
    if (ev.target === help) help.hidden = true;
  });
  doc.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || (t && t.isContentEditable);
    if (ev.key === "Escape") {
      if (!help.hidden) help.hidden = true;
      else if (typing) t.blur();
      else if (timer) play(false);
      return;
    }
    if (typing) {
      if (t === jump && ev.key === "Enter") {
        ev.preventDefault();
        doJump();
      } else if (t === filter && ev.key === "Enter") {
        clearTimeout(filterTimer);
        applyFilter();
        filter.blur();
      }
      return;
    }
    if (ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (t instanceof HTMLButtonElement && (ev.key === " " || ev.key === "Enter")) return;
    let done = true;
    switch (ev.key) {
      case "j": case "ArrowDown": case "ArrowRight": move(1); break;
      case "k": case "ArrowUp": case "ArrowLeft": move(-1); break;
      case "n": case "]": move(1, isKind("prompt")); break;
      case "p": case "[": move(-1, isKind("prompt")); break;
      case "d": move(1, isKind("decision")); break;
      case "D": move(-1, isKind("decision")); break;
      case "e": move(1, isFailed); break;
      case "E": move(-1, isFailed); break;
      case "Home": if (rows.length) { cur = null; move(1); } break;
      case "End": if (rows.length) { cur = null; move(-1); } break;
      case "g": jump.focus(); jump.select(); break;
      case "/": filter.focus(); filter.select(); break;
      case " ": play(!timer); break;
      case "x": if (cur) for (const c of children.get(cur[0] + ":" + cur[1]) || []) toggle(c); break;
      case "?": help.hidden = !help.hidden; break;
      default: done = false;
    }
    if (done) ev.preventDefault();
  });
  addEventListener("hashchange", () => {
    const target = fromHash();
    if (target) select(target[0], target[1], { center: true, keepHash: true });
  });
  addEventListener("resize", () => {
    renderList();
    drawStrip();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    stripImage = null;
    drawStrip();
  });
  if (doc.readyState === "loading")
    doc.addEventListener("DOMContentLoaded", () => {
      if (waiting) renderDetail();
    });

  /* -- start ------------------------------------------------------------------------------------------------------ */
  renderHeader();
  renderKinds();
  buildRows();
  const target = fromHash();
  if (target) select(target[0], target[1], { center: true, keepHash: true });
  else if (S.length && S[0].rows.length) select(0, 1, { keepHash: true });
  else {
    renderList();
    renderDetail();
  }
  timings.rendered = performance.now();
  requestAnimationFrame(() =>
    setTimeout(() => {
      timings.firstScreen = performance.now();
      doc.body.dataset.firstScreen = "1";
    }, 0),
  );
  // For scripts and tests: where the page is, and how long its first screen took (read-only).
  window.trailReplay = Object.freeze({
    timings,
    current: () => (cur ? hashFor(cur[0], cur[1]).slice(1) : null),
  });
})();
