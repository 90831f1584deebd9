// The agent sidebar: one question box over POST /v1/search, results as cards, 话术 by stage, feedback.
// Plain browser JavaScript, no build step and no external resource: the contact centre may be offline.
// Every piece of knowledge-base text goes into the page through textContent, never as HTML.
"use strict";

(() => {
  const DEBOUNCE_MS = 400;
  const MIN_AUTO_CHARS = 2; // one character is rarely a question; Enter still searches it
  const TIMEOUT_MS = 15000;
  const TOP_K = 5;
  const EXPIRY_WARNING_DAYS = 30;
  const COPIED_MS = 1500;
  const STORE_KEY = "kbassist.apiKey";
  const STORE_BASE = "kbassist.apiBase";
  const FIELD_LABELS = { "filters.kind": "类型", "filters.product_line": "产品线", top_k: "返回条数" };
  const EMOTION_TONES = { 愤怒: "alert", 焦急: "warn" };
  const INTENT_TONES = { 投诉: "alert", 催办: "warn" };

  const $ = (id) => document.getElementById(id);
  const el = {
    q: $("q"),
    searchForm: $("search-form"),
    kind: $("kind"),
    productLine: $("product-line"),
    progress: $("progress"),
    status: $("status"),
    error: $("error"),
    answer: $("answer"),
    chips: $("chips"),
    banners: $("banners"),
    resultsSection: $("results-section"),
    resultsTitle: $("results-title"),
    results: $("results"),
    scriptsSection: $("scripts-section"),
    scripts: $("scripts"),
    empty: $("empty"),
    meta: $("meta"),
    settings: $("settings"),
    settingsToggle: $("settings-toggle"),
    settingsForm: $("settings-form"),
    settingsStatus: $("settings-status"),
    apiKey: $("api-key"),
    apiBase: $("api-base"),
    keyClear: $("key-clear"),
    help: $("help"),
    helpToggle: $("help-toggle"),
  };

  const state = {
    seq: 0, // number of the latest search; a response with another number is stale
    controller: null,
    inFlightKey: null,
    lastKey: null,
    timer: null,
    composing: false,
    response: null,
    selected: -1,
    sent: new Set(), // "query_id|entry_id|action" already reported
    opened: new Set(),
    facetsVersion: null,
  };

  // ---- storage and service address -------------------------------------------------------------

  const storage = {
    get(name) {
      try {
        return window.localStorage.getItem(name) || "";
      } catch {
        return ""; // storage disabled by policy: the page still works for this visit
      }
    },
    set(name, value) {
      try {
        if (value) window.localStorage.setItem(name, value);
        else window.localStorage.removeItem(name);
        return true;
      } catch {
        return false;
      }
    },
  };

  function isHttpUrl(text) {
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:";
    } catch {
      return false;
    }
  }

  // ?api=… (an agent desktop embedding a copy of this page) wins over the saved address; none: this origin.
  function apiBase() {
    const fromUrl = new URLSearchParams(window.location.search).get("api") || "";
    const base = (fromUrl || storage.get(STORE_BASE)).trim();
    return isHttpUrl(base) ? base.replace(/\/+$/, "") : "";
  }

  function apiUrl(path) {
    const base = apiBase();
    return base ? `${base}/${path}` : path; // relative: also works behind a reverse proxy's path prefix
  }

  function serviceName() {
    return apiBase() || window.location.origin;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(kind, status = 0, detail = null, keySent = false) {
      super(kind);
      this.kind = kind; // aborted | timeout | network | invalid | http
      this.status = status;
      this.detail = detail;
      this.keySent = keySent;
    }
  }

  async function request(path, { method = "GET", body, signal } = {}) {
    const key = storage.get(STORE_KEY);
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["X-API-Key"] = key;
    const stop = new AbortController();
    let timedOut = false;
    const timer = window.setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, TIMEOUT_MS);
    const forward = () => stop.abort();
    if (signal) {
      if (signal.aborted) stop.abort();
      else signal.addEventListener("abort", forward, { once: true });
    }
    try {
      let response;
      try {
        response = await fetch(apiUrl(path), {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: stop.signal,
          credentials: "omit",
          cache: "no-store",
        });
      } catch {
        if (timedOut) throw new ApiFailure("timeout");
        if (signal && signal.aborted) throw new ApiFailure("aborted");
        throw new ApiFailure("network"); // refused, offline, or blocked by CORS: the browser does not say which
      }
      let text = "";
      try {
        text = await response.text();
      } catch {
        throw new ApiFailure(timedOut ? "timeout" : signal && signal.aborted ? "aborted" : "network");
      }
      let data = null;
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          if (response.ok) throw new ApiFailure("invalid", response.status);
        }
      }
      if (!response.ok) {
        throw new ApiFailure("http", response.status, data && data.detail, Boolean(key));
      }
      return data;
    } finally {
      window.clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", forward);
    }
  }

  function detailText(detail) {
    if (!Array.isArray(detail)) return "";
    return detail
      .filter((item) => item && typeof item.message === "string")
      .map((item) => (FIELD_LABELS[item.field] ? `${FIELD_LABELS[item.field]}：${item.message}` : item.message))
      .join("；");
  }

  // inSettings: the message shows inside the settings panel, so it must not send the agent there.
  function describe(failure, inSettings = false) {
    switch (failure.kind) {
      case "network":
        return apiBase()
          ? `无法连接知识库服务（${serviceName()}）：请检查网络和服务地址；若服务正常，请联系管理员允许本页地址跨域访问（KBASSIST_CORS_ORIGINS）。`
          : `无法连接知识库服务（${serviceName()}）：请检查网络，或确认服务已启动。`;
      case "timeout":
        return "知识库服务响应超时，请稍后重试。";
      case "invalid":
        return "服务返回了无法识别的内容，请检查「设置」中的服务地址。";
      default:
        break;
    }
    const status = failure.status;
    const message = detailText(failure.detail);
    if (status === 401) {
      if (inSettings) {
        return failure.keySent ? "密钥无效或已停用：请核对后重新填写。" : "此服务需要 API 密钥：请填写管理员提供的坐席密钥。";
      }
      return failure.keySent
        ? "密钥无效或已停用：请在「设置」中重新填写 API 密钥。"
        : "需要 API 密钥：请在「设置」中填写管理员提供的坐席密钥。";
    }
    if (status === 403) return "权限不足：此密钥无权使用该功能，请联系管理员。";
    if (status === 413) return "内容过长，超出服务允许的大小，请删减后重试。";
    if (status === 422) return `输入有误：${message || "请检查输入内容"}`;
    if (status === 429) return "请求过于频繁，请稍后再试。";
    if (status === 503) return `服务暂不可用：${message || "请稍后重试"}`;
    if (status >= 500) return "服务内部错误，请稍后重试；如持续出现请联系管理员。";
    return `请求失败（${status}）：${message || "请稍后重试"}`;
  }

  // ---- small DOM helpers -----------------------------------------------------------------------

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function announce(text) {
    el.status.textContent = text;
  }

  function showError(text) {
    el.error.textContent = text;
    el.error.hidden = false;
  }

  function hideError() {
    el.error.hidden = true;
    el.error.textContent = "";
  }

  // ---- highlighting ----------------------------------------------------------------------------

  // Folds width and case (as the service's normalizer does) and remembers where each folded character
  // came from, so a match found in the folded text marks the right characters of the original.
  function fold(text) {
    let folded = "";
    const starts = [];
    const ends = [];
    let at = 0;
    for (const char of text) {
      const piece = char.normalize("NFKC").toLowerCase();
      for (let i = 0; i < piece.length; i += 1) {
        starts.push(at);
        ends.push(at + char.length);
      }
      folded += piece;
      at += char.length;
    }
    return { folded, starts, ends };
  }

  function highlighted(text, terms) {
    const fragment = document.createDocumentFragment();
    const wanted = (terms || []).map((t) => String(t).normalize("NFKC").toLowerCase().trim()).filter(Boolean);
    if (!wanted.length || !text) {
      fragment.append(document.createTextNode(text || ""));
      return fragment;
    }
    const { folded, starts, ends } = fold(text);
    const marked = new Uint8Array(text.length); // overlapping terms (无理 + 理由) mark one run: 无理由
    for (const term of wanted) {
      let from = folded.indexOf(term);
      while (from !== -1) {
        const start = starts[from];
        const end = ends[from + term.length - 1];
        marked.fill(1, start, end);
        from = folded.indexOf(term, from + 1);
      }
    }
    let runStart = 0;
    for (let i = 1; i <= text.length; i += 1) {
      if (i === text.length || marked[i] !== marked[runStart]) {
        const piece = text.slice(runStart, i);
        if (marked[runStart]) fragment.append(make("mark", null, piece));
        else fragment.append(document.createTextNode(piece));
        runStart = i;
      }
    }
    return fragment;
  }

  function hasMatch(text, terms) {
    const folded = fold(text).folded;
    return (terms || []).some((t) => {
      const term = String(t).normalize("NFKC").toLowerCase().trim();
      return term && folded.includes(term);
    });
  }

  // A 话术's placeholders ({客户称呼}) stand out so the agent fills them in before sending.
  function withPlaceholders(text) {
    const fragment = document.createDocumentFragment();
    for (const piece of String(text).split(/(\{[^{}\n]{1,20}\})/)) {
      if (!piece) continue;
      if (/^\{[^{}\n]{1,20}\}$/.test(piece)) fragment.append(make("span", "placeholder", piece));
      else fragment.append(document.createTextNode(piece));
    }
    return fragment;
  }

  // ---- clipboard -------------------------------------------------------------------------------

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // permission refused or document not focused: try the old way
      }
    }
    // Not a secure context (http on a LAN address): the Clipboard API does not exist there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.setAttribute("aria-hidden", "true");
    area.className = "clipboard-helper";
    const focused = document.activeElement;
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    if (focused && typeof focused.focus === "function") focused.focus({ preventScroll: true });
    return copied;
  }

  function flash(button, text) {
    if (!button) return;
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    button.classList.add("copied");
    window.clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(
      window.setTimeout(() => {
        button.textContent = button.dataset.label;
        button.classList.remove("copied");
      }, COPIED_MS),
    );
  }

  async function copyAndRecord(text, entryId, button, what) {
    const data = state.response;
    const copied = await copyText(text);
    if (copied) {
      flash(button, "已复制");
      announce(`已复制${what}到剪贴板`);
      if (data) sendFeedback(data.query_id, entryId, "copied");
    } else {
      flash(button, "复制失败");
      announce("复制失败：请手动选中文字复制");
    }
    return copied;
  }

  // ---- feedback --------------------------------------------------------------------------------

  async function sendFeedback(queryId, entryId, action, { quiet = true } = {}) {
    const mark = `${queryId}|${entryId}|${action}`;
    if (!queryId || state.sent.has(mark)) return true;
    state.sent.add(mark);
    try {
      await request("v1/feedback", { method: "POST", body: { query_id: queryId, entry_id: entryId, action } });
      return true;
    } catch (failure) {
      state.sent.delete(mark);
      if (!quiet) showError(`反馈未能提交。${describe(failure)}`);
      return false;
    }
  }

  // ---- search ----------------------------------------------------------------------------------

  function currentFilters() {
    const filters = {};
    if (el.kind.value) filters.kind = [el.kind.value];
    if (el.productLine.value) filters.product_line = [el.productLine.value];
    return filters;
  }

  function searchKey() {
    return JSON.stringify([el.q.value.trim(), el.kind.value, el.productLine.value]);
  }

  function setLoading(loading) {
    el.progress.hidden = !loading;
    el.answer.setAttribute("aria-busy", loading ? "true" : "false");
    el.answer.classList.toggle("loading", loading);
    if (loading) announce("检索中…");
  }

  function cancelInFlight() {
    window.clearTimeout(state.timer);
    if (state.controller) state.controller.abort();
    state.controller = null;
    state.inFlightKey = null;
    state.seq += 1;
    setLoading(false);
  }

  function scheduleSearch() {
    window.clearTimeout(state.timer);
    if (state.composing) return; // pinyin being composed is not the question yet
    const query = el.q.value.trim();
    if (!query) {
      cancelInFlight();
      clearAnswer();
      return;
    }
    if ([...query].length < MIN_AUTO_CHARS) return;
    state.timer = window.setTimeout(() => runSearch(false), DEBOUNCE_MS);
  }

  async function runSearch(force) {
    window.clearTimeout(state.timer);
    const query = el.q.value.trim();
    if (!query) {
      cancelInFlight();
      clearAnswer();
      return;
    }
    const key = searchKey();
    if (key === state.inFlightKey) return; // this very question is already on its way
    if (!force && key === state.lastKey) return; // already answered; Enter asks again
    cancelInFlight(); // an older question still running is abandoned, so at most one is in flight
    const seq = state.seq;
    const controller = new AbortController();
    state.controller = controller;
    state.inFlightKey = key;
    state.lastKey = key;
    hideError();
    setLoading(true);
    const filters = currentFilters();
    const body = { query, top_k: TOP_K };
    if (Object.keys(filters).length) body.filters = filters;
    try {
      const data = await request("v1/search", { method: "POST", body, signal: controller.signal });
      if (seq !== state.seq) return;
      render(data);
    } catch (failure) {
      if (seq !== state.seq || failure.kind === "aborted") return;
      state.lastKey = null; // let the same question be asked again
      clearAnswer();
      showFailure(failure);
    } finally {
      if (seq === state.seq) {
        state.controller = null;
        state.inFlightKey = null;
        setLoading(false);
        if (el.status.textContent === "检索中…") announce("");
      }
    }
  }

  function showFailure(failure) {
    const text = describe(failure);
    showError(text);
    announce("");
    if (failure.kind === "http" && failure.status === 401) openSettings(describe(failure, true), false);
  }

  // ---- rendering -------------------------------------------------------------------------------

  function clearAnswer() {
    state.response = null;
    state.selected = -1;
    state.opened.clear();
    clear(el.chips);
    clear(el.banners);
    clear(el.results);
    clear(el.scripts);
    delete el.results.dataset.queryId;
    el.resultsSection.hidden = true;
    el.scriptsSection.hidden = true;
    el.empty.hidden = false;
    el.meta.textContent = "";
    announce("");
  }

  function validityText(source) {
    const from = source.effective_from;
    const to = source.effective_to;
    if (!from && !to) return "长期有效";
    if (from && !to) return `${from} 起生效`;
    if (!from) return `有效至 ${to}`;
    return `${from} 至 ${to}`;
  }

  function daysLeft(day) {
    if (!day) return null;
    const end = Date.parse(`${day}T23:59:59`);
    if (Number.isNaN(end)) return null;
    return Math.ceil((end - Date.now()) / 86400000);
  }

  function renderChips(intent) {
    clear(el.chips);
    if (!intent) return;
    const title = intent.explanation || "";
    const pct = (value) => `${Math.round((value || 0) * 100)}%`;
    const intentChip = make("span", `chip tone-${INTENT_TONES[intent.intent] || "calm"}`, `意图：${intent.intent}`);
    intentChip.title = `置信度 ${pct(intent.intent_confidence)}。${title}`;
    const emotionChip = make("span", `chip tone-${EMOTION_TONES[intent.emotion] || "calm"}`, `情绪：${intent.emotion}`);
    emotionChip.title = `置信度 ${pct(intent.emotion_confidence)}。${title}`;
    el.chips.append(intentChip, emotionChip);
    if (intent.emotion === "愤怒") el.chips.append(make("span", "tip", "先安抚：倾听 → 共情 → 承诺"));
  }

  function banner(kind, title, text) {
    const box = make("div", `banner banner-${kind}`);
    box.append(make("strong", null, title), make("span", null, text));
    el.banners.append(box);
    return box;
  }

  function copyScriptButton(script, label, ariaLabel) {
    const button = make("button", "copy-script", label);
    button.type = "button";
    button.dataset.scriptId = script.id;
    button.setAttribute("aria-label", ariaLabel);
    return button;
  }

  // The verify-and-call-back 话术 the service offers when nothing in the knowledge base answers.
  function callBackScript(data) {
    return data.scripts.find((s) => s.no_answer_script) || null;
  }

  function linkedScript(data, hit) {
    return data.scripts.find((s) => s.reason === `linked:${hit.id}`) || null;
  }

  function renderCard(hit, index, data) {
    const terms = hit.matched_terms;
    const card = make("li", "card");
    card.dataset.id = hit.id;
    card.dataset.index = String(index);
    card.dataset.kind = hit.kind;

    const head = make("div", "card-head");
    const badges = make("div", "badges");
    badges.append(make("span", `badge kind-${hit.kind}`, hit.kind_label));
    if (hit.exact_match) badges.append(make("span", "badge exact", "精确匹配"));
    const toggle = make("button", "card-toggle");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", `card-body-${index}`);
    const title = make("span", "card-title");
    title.append(highlighted(hit.title, terms));
    toggle.append(title, make("span", "toggle-hint", "展开"));
    head.append(badges, toggle);

    const body = make("div", "card-body");
    body.id = `card-body-${index}`;
    const lines = hit.text.split(/\r?\n/).filter((line) => line.trim());
    if (lines.length > 4) {
      // Spec sheets: collapsed, show the first line and the lines the question is about.
      const key = new Set([0]);
      lines.forEach((line, i) => {
        if (key.size < 4 && hasMatch(line, terms)) key.add(i);
      });
      const list = make("div", "card-lines");
      lines.forEach((line, i) => {
        const row = make("p", key.has(i) ? "line" : "line minor");
        row.append(highlighted(line, terms));
        list.append(row);
      });
      body.append(list, make("p", "more", `…… 展开查看全部 ${lines.length} 行`));
    } else {
      const text = make("p", "card-text");
      text.append(highlighted(lines.join("\n"), terms));
      body.append(text);
    }
    const details = [
      ["分类", hit.category],
      ["产品线", hit.product_line],
      ["型号", hit.model],
      ["章节", hit.source.chapter],
    ].filter(([, value]) => value);
    if (details.length) {
      const list = make("dl", "details");
      for (const [name, value] of details) list.append(make("dt", null, name), make("dd", null, value));
      body.append(list);
    }

    const source = make("p", "source");
    source.append(make("span", "source-label", "来源："), make("cite", null, hit.source.citation));
    const validity = make("span", "validity", `有效期：${validityText(hit.source)}`);
    source.append(validity);
    const left = daysLeft(hit.source.effective_to);
    if (left !== null && left <= EXPIRY_WARNING_DAYS) {
      source.append(make("span", "expiring", left >= 0 ? `（还有 ${left} 天失效）` : "（已失效）"));
    }

    const actions = make("div", "card-actions");
    const copy = make("button", "copy-answer", "复制答案");
    copy.type = "button";
    copy.setAttribute("aria-label", `复制答案：${hit.title}`);
    const helpful = make("button", "vote", "有帮助");
    helpful.type = "button";
    helpful.dataset.action = "helpful";
    helpful.setAttribute("aria-pressed", "false");
    helpful.setAttribute("aria-label", `有帮助：${hit.title}`);
    const unhelpful = make("button", "vote", "没帮助");
    unhelpful.type = "button";
    unhelpful.dataset.action = "not_helpful";
    unhelpful.setAttribute("aria-pressed", "false");
    unhelpful.setAttribute("aria-label", `没帮助：${hit.title}`);
    actions.append(copy, helpful, unhelpful);
    if (linkedScript(data, hit)) actions.append(make("span", "linked-note", "有关联话术"));

    card.append(head, body, source, actions);
    return card;
  }

  function renderScripts(data) {
    clear(el.scripts);
    const byStage = new Map();
    for (const script of data.scripts) {
      if (!byStage.has(script.stage)) byStage.set(script.stage, []);
      byStage.get(script.stage).push(script);
    }
    const titles = new Map(data.results.map((hit) => [hit.id, hit.title]));
    for (const [stage, scripts] of byStage) {
      const group = make("section", "stage-group");
      const heading = make("h3", "stage", stage);
      group.append(heading);
      const list = make("ul", "script-list");
      for (const script of scripts) {
        const item = make("li", "script");
        item.dataset.id = script.id;
        const text = make("p", "script-text");
        text.append(withPlaceholders(script.text));
        const foot = make("div", "script-foot");
        const linkedTo = script.reason.startsWith("linked:") ? script.reason.slice("linked:".length) : null;
        const why = linkedTo
          ? `关联：${titles.get(linkedTo) || linkedTo}`
          : script.scenario
            ? `场景：${script.scenario}`
            : "";
        foot.append(make("span", "script-why", why));
        foot.append(copyScriptButton(script, "复制", `复制${stage}话术`));
        item.append(text, foot);
        list.append(item);
      }
      group.append(list);
      el.scripts.append(group);
    }
  }

  function render(data) {
    state.response = data;
    state.selected = -1;
    state.opened.clear();
    state.sent.clear();
    hideError();
    renderChips(data.intent);
    clear(el.banners);
    if (data.no_good_answer) {
      const box = banner("none", "未找到可靠答案", "请勿猜测：告知客户将核实后回电，并登记工单。以下条目仅供参考。");
      const script = callBackScript(data);
      if (script) {
        const quote = make("p", "banner-script");
        quote.append(withPlaceholders(script.text));
        box.append(quote, copyScriptButton(script, "复制回电话术", "复制核实回电话术"));
      }
    } else if (data.exact_match) {
      banner("exact", "精确匹配标准问", "第一条即标准答案，可直接使用。");
    }
    // Without a good answer the call-back 话术 is what the agent needs first.
    if (data.no_good_answer) el.answer.insertBefore(el.scriptsSection, el.resultsSection);
    else el.answer.insertBefore(el.resultsSection, el.scriptsSection);
    el.resultsTitle.textContent = data.no_good_answer ? "相关条目（仅供参考）" : "答案";

    clear(el.results);
    el.results.dataset.queryId = data.query_id;
    data.results.forEach((hit, index) => el.results.append(renderCard(hit, index, data)));
    el.resultsSection.hidden = data.results.length === 0;
    renderScripts(data);
    el.scriptsSection.hidden = data.scripts.length === 0;
    el.empty.hidden = true;

    const count = data.results.length;
    let summary;
    if (!count) summary = "没有找到相关条目";
    else if (data.no_good_answer) summary = `未找到可靠答案（列出 ${count} 条相关条目，仅供参考）`;
    else summary = `找到 ${count} 条答案`;
    if (data.scripts.length) summary += `，${data.scripts.length} 条话术`;
    announce(summary);
    el.meta.textContent = `索引版本 ${data.index_version} · 用时 ${Math.round(data.took_ms)} 毫秒`;

    for (const hit of data.results) sendFeedback(data.query_id, hit.id, "shown");
    if (state.facetsVersion && data.index_version !== state.facetsVersion) loadFacets(); // index was reloaded
  }

  // ---- cards: selection, opening, actions --------------------------------------------------------

  function cards() {
    return Array.from(el.results.querySelectorAll(".card"));
  }

  function select(index, focus = true) {
    const all = cards();
    if (!all.length) return;
    const chosen = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((card, i) => {
      card.classList.toggle("selected", i === chosen);
      if (i === chosen) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    });
    state.selected = chosen;
    if (focus) all[chosen].querySelector(".card-toggle").focus({ preventScroll: true });
    all[chosen].scrollIntoView({ block: "nearest" });
  }

  function toggleCard(index) {
    const card = cards()[index];
    const data = state.response;
    if (!card || !data) return;
    const open = !card.classList.contains("open");
    card.classList.toggle("open", open);
    const toggle = card.querySelector(".card-toggle");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.querySelector(".toggle-hint").textContent = open ? "收起" : "展开";
    if (open && !state.opened.has(index)) {
      state.opened.add(index);
      sendFeedback(data.query_id, data.results[index].id, "clicked");
    }
  }

  function scriptButton(scriptId) {
    for (const button of el.answer.querySelectorAll(".copy-script")) {
      if (button.dataset.scriptId === scriptId) return button;
    }
    return null;
  }

  // The selected result's own 话术 if it has one, else its answer; with no good answer, the first
  // call-back 话术 (the guess is not what to say).
  function copySelected() {
    const data = state.response;
    if (!data || !data.results.length) {
      const script = data && (callBackScript(data) || data.scripts[0]);
      if (script) copyAndRecord(script.text, script.id, scriptButton(script.id), "话术");
      return;
    }
    if (state.selected < 0) select(0, false);
    const hit = data.results[state.selected];
    const card = cards()[state.selected];
    const script = data.no_good_answer ? callBackScript(data) || data.scripts[0] : linkedScript(data, hit);
    if (script) {
      copyAndRecord(script.text, script.id, scriptButton(script.id), "话术").then((copied) => {
        if (copied) flash(card.querySelector(".copy-answer"), "已复制话术");
      });
    } else {
      copyAndRecord(hit.text, hit.id, card.querySelector(".copy-answer"), "答案");
    }
  }

  async function vote(button, index) {
    const data = state.response;
    if (!data) return;
    const hit = data.results[index];
    const action = button.dataset.action;
    const card = cards()[index];
    for (const other of card.querySelectorAll(".vote")) {
      other.setAttribute("aria-pressed", other === button ? "true" : "false");
    }
    const sent = await sendFeedback(data.query_id, hit.id, action, { quiet: false });
    if (sent) announce(action === "helpful" ? "已记录：有帮助，感谢反馈" : "已记录：没帮助，主管会据此完善知识库");
    else button.setAttribute("aria-pressed", "false");
  }

  el.results.addEventListener("click", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    const index = Number(card.dataset.index);
    select(index, false);
    const data = state.response;
    if (event.target.closest(".card-toggle")) toggleCard(index);
    else if (event.target.closest(".copy-answer")) {
      copyAndRecord(data.results[index].text, data.results[index].id, event.target.closest(".copy-answer"), "答案");
    } else if (event.target.closest(".vote")) vote(event.target.closest(".vote"), index);
  });

  el.results.addEventListener("focusin", (event) => {
    const card = event.target.closest(".card");
    if (card && Number(card.dataset.index) !== state.selected) select(Number(card.dataset.index), false);
  });

  el.answer.addEventListener("click", (event) => {
    const button = event.target.closest(".copy-script");
    const data = state.response;
    if (!button || !data) return;
    const script = data.scripts.find((s) => s.id === button.dataset.scriptId);
    if (script) copyAndRecord(script.text, script.id, button, "话术");
  });

  // ---- facets (product lines of the loaded index) ------------------------------------------------

  async function loadFacets() {
    try {
      const facets = await request("v1/facets");
      state.facetsVersion = facets.index_version;
      const chosen = el.productLine.value;
      while (el.productLine.options.length > 1) el.productLine.remove(1);
      for (const line of facets.product_lines) {
        const option = make("option", null, line.value);
        option.value = line.value;
        el.productLine.append(option);
      }
      el.productLine.value = facets.product_lines.some((l) => l.value === chosen) ? chosen : "";
      return { ok: true };
    } catch (failure) {
      if (failure.kind === "http" && failure.status === 404) return { ok: true }; // an older service: no list
      return { ok: false, failure };
    }
  }

  // ---- settings and help panels ------------------------------------------------------------------

  function setPanel(panel, toggle, open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function openSettings(message, focus) {
    el.apiKey.value = storage.get(STORE_KEY);
    el.apiBase.value = storage.get(STORE_BASE);
    el.settingsStatus.textContent = message || "";
    setPanel(el.settings, el.settingsToggle, true);
    if (focus) el.apiKey.focus();
  }

  el.settingsToggle.addEventListener("click", () => {
    if (el.settings.hidden) openSettings("", true);
    else setPanel(el.settings, el.settingsToggle, false);
  });

  el.helpToggle.addEventListener("click", () => setPanel(el.help, el.helpToggle, el.help.hidden));

  el.settingsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = el.apiKey.value.trim();
    const base = el.apiBase.value.trim();
    if (base && !isHttpUrl(base)) {
      el.settingsStatus.textContent = "服务地址应以 http:// 或 https:// 开头，例如 http://kb.example.cn:8000";
      el.apiBase.focus();
      return;
    }
    if (!storage.set(STORE_KEY, key) || !storage.set(STORE_BASE, base)) {
      el.settingsStatus.textContent = "浏览器禁止本页保存设置（本地存储不可用），请联系管理员。";
      return;
    }
    el.settingsStatus.textContent = "正在验证…";
    const result = await loadFacets();
    if (!result.ok) {
      el.settingsStatus.textContent = describe(result.failure, true);
      return;
    }
    setPanel(el.settings, el.settingsToggle, false);
    hideError();
    announce(key ? "密钥已保存，验证通过" : "设置已保存（未填写密钥：仅在开发模式下可用）");
    el.q.focus();
    if (el.q.value.trim()) runSearch(true);
  });

  el.keyClear.addEventListener("click", () => {
    storage.set(STORE_KEY, "");
    el.apiKey.value = "";
    el.settingsStatus.textContent = "密钥已从本机清除。";
    el.apiKey.focus();
  });

  // ---- the question box and the keyboard ---------------------------------------------------------

  el.q.addEventListener("input", scheduleSearch);
  el.q.addEventListener("compositionstart", () => {
    state.composing = true;
    window.clearTimeout(state.timer);
  });
  el.q.addEventListener("compositionend", () => {
    state.composing = false;
    scheduleSearch();
  });
  el.searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch(true);
  });
  el.kind.addEventListener("change", () => runSearch(false));
  el.productLine.addEventListener("change", () => runSearch(false));

  function focusQuery() {
    el.q.focus();
    el.q.select();
  }

  function isTyping(target) {
    return Boolean(
      target &&
        (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)),
    );
  }

  function escape(target) {
    for (const [panel, toggle] of [
      [el.help, el.helpToggle],
      [el.settings, el.settingsToggle],
    ]) {
      if (!panel.hidden && (panel.contains(target) || target === toggle)) {
        setPanel(panel, toggle, false);
        toggle.focus();
        return;
      }
    }
    el.q.value = "";
    cancelInFlight();
    clearAnswer();
    hideError();
    state.lastKey = null;
    el.q.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.isComposing || event.keyCode === 229) return; // the IME's own keys
    const target = event.target;
    const mod = event.ctrlKey || event.metaKey;
    const inQuery = target === el.q;
    const inResults = el.results.contains(target);
    if (mod && !event.altKey && !event.shiftKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      focusQuery();
      return;
    }
    if (mod && event.key === "Enter") {
      event.preventDefault();
      copySelected();
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      escape(target);
      return;
    }
    if (mod || event.altKey) return;
    if ((event.key === "ArrowDown" || event.key === "ArrowUp") && (inQuery || inResults)) {
      if (!cards().length) return;
      event.preventDefault();
      if (inQuery) {
        if (event.key === "ArrowDown") select(state.selected < 0 ? 0 : state.selected);
      } else if (event.key === "ArrowDown") select(state.selected + 1);
      else if (state.selected <= 0) focusQuery();
      else select(state.selected - 1);
      return;
    }
    if (isTyping(target)) return;
    if (event.key === "/") {
      event.preventDefault();
      focusQuery();
    } else if (event.key === "?") {
      event.preventDefault();
      setPanel(el.help, el.helpToggle, el.help.hidden);
    } else if (event.key === "c" || event.key === "C") {
      if (state.response) {
        event.preventDefault();
        copySelected();
      }
    }
  });

  // ---- start -------------------------------------------------------------------------------------

  async function start() {
    clearAnswer();
    const embedded = window.top !== window.self;
    const result = await loadFacets();
    if (!result.ok) {
      const text = describe(result.failure);
      if (result.failure.kind === "http" && result.failure.status === 401) {
        openSettings(describe(result.failure, true), !embedded);
        return;
      }
      showError(text);
    }
    if (!embedded) el.q.focus(); // inside the agent desktop the ticket keeps the focus
  }

  start();
})();
