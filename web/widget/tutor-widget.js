/**
 * Karmayogi Tutor chat widget.
 *
 * Embed with one tag (the server defaults to the origin this script comes from):
 *   <script src="https://host/widget/tutor-widget.js" data-title="Karmayogi Tutor" data-lang="en"></script>
 * or with data-autoinit="false" and then:
 *   window.TutorWidget.init({server: "https://host", title: "...", language: "hi",
 *                            colors: {primary: "#1b4f8a", accent: "#f28c28"}, open: false});
 *
 * Security model: bot text is untrusted (it can quote trainer documents). It is rendered
 * with markdown-it (raw HTML off) and then DOMPurify with a small tag allow-list and only
 * http/https/mailto links; user text is only ever set as textContent. No innerHTML sinks.
 * Vendor scripts come from the same server's /vendor/ allow-list.
 */
(function () {
  "use strict";

  if (window.TutorWidget && window.TutorWidget.version) return;

  var SCRIPT = document.currentScript;
  var MAX_CHARS = 2000;
  var REPLY_TIMEOUT_MS = 30000;
  var TRANSCRIPT_MAX = 100;
  var SESSION_RE = /^[0-9a-f]{32}$/;
  var TOKEN_RE = /^v1\.[0-9a-f]{32}\.[0-9a-f]{1,12}\.[A-Za-z0-9_-]{43}$/;
  var COLOR_RE = /^#[0-9a-fA-F]{3,8}$/;
  var SVG_NS = "http://www.w3.org/2000/svg";

  var LANG_RE = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$/;

  /**
   * English texts, used until the server's language list arrives (or if it cannot be had).
   * The texts of every language, English included, come from the server's locale files
   * (GET /widget/config.json, keys widget_* of bot/locales/<code>.yml); these mirror en.yml.
   */
  var FALLBACK = {
    title: "Karmayogi Tutor",
    open: "Open tutor chat",
    close: "Close chat",
    reset: "Start a new conversation",
    placeholder: "Ask about your course…",
    inputLabel: "Your question",
    send: "Send",
    typing: "Tutor is typing…",
    online: "Online",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    noReply: "No reply yet. The tutor may be busy; please try again in a moment.",
    tooLong: "Messages are limited to 2000 characters.",
    welcome: "Namaste! I am your course tutor. Ask me a question about your course material, or say **quiz me** to practise.",
    you: "You",
    tutor: "Tutor",
    languageLabel: "Reply language",
    chosen: "Reply in English",
    download: "Download",
  };
  var FALLBACK_LANGUAGES = [{ code: "en", nativeName: "English", strings: FALLBACK }];

  /**
   * The interface languages from the server's answer, each with every text (English where
   * the server gave none); null when the answer is unusable.
   */
  function readLanguages(data) {
    if (!data || !Array.isArray(data.languages)) return null;
    var list = data.languages.filter(function (l) {
      return l && typeof l.code === "string" && LANG_RE.test(l.code) && typeof l.nativeName === "string" && l.nativeName;
    }).map(function (l) {
      var strings = {};
      Object.keys(FALLBACK).forEach(function (k) {
        var given = l.strings && l.strings[k];
        strings[k] = typeof given === "string" && given ? given : FALLBACK[k];
      });
      return { code: l.code, nativeName: l.nativeName.slice(0, 40), strings: strings };
    });
    return list.length ? list : null;
  }

  /** Fetch the server's interface languages; the English fallback when that fails. */
  function loadLanguages(server) {
    return fetch(server + "/widget/config.json", { credentials: "omit", cache: "no-cache" })
      .then(function (resp) { if (!resp.ok) throw new Error("config " + resp.status); return resp.json(); })
      .then(function (data) { return readLanguages(data) || FALLBACK_LANGUAGES; },
        function () { return FALLBACK_LANGUAGES; });
  }

  /* ---------- vendor loading ---------- */

  var vendorPromise = null;

  /** Load one vendor script and take its global without clobbering the host page's own copy. */
  function loadVendor(server, file, globalName) {
    return new Promise(function (resolve, reject) {
      var previous = window[globalName];
      var hadPrevious = Object.prototype.hasOwnProperty.call(window, globalName);
      var tag = document.createElement("script");
      tag.src = server + "/vendor/" + file;
      tag.async = false;
      tag.onload = function () {
        var lib = window[globalName];
        if (hadPrevious) window[globalName] = previous;
        else { try { delete window[globalName]; } catch (e) { window[globalName] = undefined; } }
        tag.remove();
        lib ? resolve(lib) : reject(new Error("vendor global missing: " + globalName));
      };
      tag.onerror = function () { reject(new Error("could not load " + file)); };
      document.head.appendChild(tag);
    });
  }

  function loadVendors(server) {
    if (!vendorPromise) {
      vendorPromise = Promise.all([
        loadVendor(server, "socket.io.min.js", "io"),
        loadVendor(server, "purify.min.js", "DOMPurify"),
        loadVendor(server, "markdown-it.min.js", "markdownit"),
      ]).then(function (libs) { return { io: libs[0], DOMPurify: libs[1], markdownit: libs[2] }; });
    }
    return vendorPromise;
  }

  /* ---------- safe rendering ---------- */

  /** Build a markdown -> sanitised DOM fragment renderer from the vendor libraries. */
  function makeRenderer(libs) {
    var md = libs.markdownit({ html: false, linkify: false, typographer: false, breaks: true });
    // Only the small subset bots use; images, headings, tables and raw HTML stay plain text.
    md.disable(["image", "table", "heading", "lheading", "hr", "blockquote", "code", "fence",
      "reference", "html_block", "html_inline", "autolink"], true);
    // A private DOMPurify instance, so our hook never touches the host page's sanitiser.
    var purify = libs.DOMPurify(window);
    purify.addHook("afterSanitizeAttributes", function (node) {
      if (node.tagName === "A") {
        if (node.hasAttribute("href")) {
          node.setAttribute("target", "_blank");
          node.setAttribute("rel", "noopener noreferrer");
        }
      }
    });
    var config = {
      ALLOWED_TAGS: ["p", "br", "strong", "em", "a", "ul", "ol", "li", "code"],
      ALLOWED_ATTR: ["href"],
      ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
      ADD_ATTR: ["target", "rel"],
      RETURN_DOM_FRAGMENT: true,
    };
    return function (text) { return purify.sanitize(md.render(String(text || "")), config); };
  }

  /* ---------- small DOM helpers (no innerHTML) ---------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (attrs[k] === true) node.setAttribute(k, "");
      else if (attrs[k] !== false && attrs[k] != null) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function icon(pathD) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", pathD);
    svg.appendChild(path);
    return svg;
  }

  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
    close: "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z",
    send: "M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z",
    reset: "M12 5V2L7 6l5 4V7a5 5 0 1 1-5 5H5a7 7 0 1 0 7-7z",
  };

  function storage(kind) {
    try { return window[kind]; } catch (e) { return null; }
  }

  /* ---------- the widget ---------- */

  function Widget(options) {
    this.server = String(options.server).replace(/\/+$/, "");
    this.keyLang = "tutorWidget.lang." + this.server;
    var ls = storage("localStorage");
    // A language the learner switched to wins over the page's default; both are checked
    // against the server's list once it arrives (English until then).
    this.wantedLang = (ls && ls.getItem(this.keyLang)) || options.language || "en";
    this.languages = FALLBACK_LANGUAGES;
    this.lang = "en";
    this.t = FALLBACK;
    this.customTitle = options.title;
    this.title = options.title || this.t.title;
    this.keySession = "tutorWidget.session." + this.server;
    this.keyToken = "tutorWidget.token." + this.server;
    this.keyTranscript = "tutorWidget.transcript." + this.server;
    this.keyOpen = "tutorWidget.open." + this.server;
    this.socket = null;
    this.ready = false;
    this.replyTimer = null;
    this.transcript = this.loadTranscript();
    this.build(options.colors || {});
    this.ready$ = Promise.all([loadVendors(this.server), loadLanguages(this.server)]).then(
      function (loaded) {
        this.setLanguages(loaded[1]);
        this.libs = loaded[0];
        this.render = makeRenderer(loaded[0]);
        this.restore();
      }.bind(this),
      function (err) { this.setStatus(err.message, true); }.bind(this)
    );
    var ss = storage("sessionStorage");
    if (options.open || (ss && ss.getItem(this.keyOpen) === "1")) this.open(false);
  }

  Widget.prototype.build = function (colors) {
    var t = this.t;
    this.host = el("div", { "data-tutor-widget": "" });
    var root = this.host.attachShadow({ mode: "open" });
    root.appendChild(el("link", { rel: "stylesheet", href: this.server + "/widget/tutor-widget.css" }));
    var panelId = "tw-panel";
    this.launcher = el("button", {
      type: "button", className: "tw-launcher", "aria-label": t.open, "aria-expanded": "false",
      "aria-controls": panelId,
    }, [icon(ICONS.chat)]);
    this.statusEl = el("p", { className: "tw-status", text: t.connecting });
    this.titleEl = el("h2", { className: "tw-title", text: this.title });
    this.resetBtn = el("button", { type: "button", className: "tw-icon-btn tw-reset", "aria-label": t.reset, title: t.reset }, [icon(ICONS.reset)]);
    this.closeBtn = el("button", { type: "button", className: "tw-icon-btn tw-close", "aria-label": t.close, title: t.close }, [icon(ICONS.close)]);
    this.langSelect = el("select", { className: "tw-lang", "aria-label": t.languageLabel, title: t.languageLabel });
    this.renderLanguages();
    this.log = el("div", {
      className: "tw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": this.title, tabindex: "0",
    });
    this.typing = el("div", { className: "tw-typing", role: "status", hidden: true }, [
      el("span", { className: "tw-dot", "aria-hidden": "true" }),
      el("span", { className: "tw-dot", "aria-hidden": "true" }),
      el("span", { className: "tw-dot", "aria-hidden": "true" }),
      el("span", { className: "tw-sr", text: t.typing }),
    ]);
    this.input = el("textarea", {
      id: "tw-input", className: "tw-input", rows: "1", maxlength: String(MAX_CHARS),
      placeholder: t.placeholder, "aria-label": t.inputLabel, autocomplete: "off",
    });
    this.sendBtn = el("button", { type: "submit", className: "tw-send", "aria-label": t.send, title: t.send, disabled: true }, [icon(ICONS.send)]);
    this.counter = el("p", { className: "tw-counter", "aria-live": "polite", hidden: true });
    this.form = el("form", { className: "tw-form" }, [this.input, this.sendBtn]);
    this.panel = el("section", {
      id: panelId, className: "tw-panel", role: "dialog", "aria-label": this.title, hidden: true,
    }, [
      el("header", { className: "tw-header" }, [
        el("div", { className: "tw-avatar", "aria-hidden": "true" }, [icon(ICONS.chat)]),
        el("div", { className: "tw-heading" }, [this.titleEl, this.statusEl]),
        this.langSelect, this.resetBtn, this.closeBtn,
      ]),
      this.log, this.typing, this.form, this.counter,
    ]);
    this.rootEl = el("div", { className: "tw-root", lang: this.lang }, [this.panel, this.launcher]);
    if (COLOR_RE.test(colors.primary || "")) this.rootEl.style.setProperty("--tw-primary", colors.primary);
    if (COLOR_RE.test(colors.accent || "")) this.rootEl.style.setProperty("--tw-accent", colors.accent);
    root.appendChild(this.rootEl);
    document.body.appendChild(this.host);

    var self = this;
    this.launcher.addEventListener("click", function () { self.panel.hidden ? self.open(true) : self.close(); });
    this.closeBtn.addEventListener("click", function () { self.close(); });
    this.resetBtn.addEventListener("click", function () { self.reset(); });
    this.langSelect.addEventListener("change", function () { self.switchLanguage(self.langSelect.value); });
    this.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") self.close(); });
    this.form.addEventListener("submit", function (e) { e.preventDefault(); self.sendTyped(); });
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); self.sendTyped(); }
    });
    this.input.addEventListener("input", function () { self.onInput(); });
  };

  Widget.prototype.open = function (focus) {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", this.t.close);
    this.launcher.classList.remove("tw-unread");
    var ss = storage("sessionStorage");
    if (ss) ss.setItem(this.keyOpen, "1");
    var self = this;
    this.ready$.then(function () { self.connect(); });
    if (focus !== false) this.input.focus();
    this.scrollDown();
  };

  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", this.t.open);
    var ss = storage("sessionStorage");
    if (ss) ss.removeItem(this.keyOpen);
    this.launcher.focus();
  };

  /* ----- connection ----- */

  Widget.prototype.storedToken = function () {
    var ls = storage("localStorage");
    var token = ls && ls.getItem(this.keyToken);
    return token && TOKEN_RE.test(token) ? token : null;
  };

  /**
   * Ask the page server for this browser's session token (POST /session).
   * The server issues the session id; the widget never invents one. Same-site pages also
   * get it as an HttpOnly cookie; cross-site embeds rely on the token kept here.
   */
  Widget.prototype.fetchToken = function (fresh) {
    var self = this;
    var body = fresh ? { "new": true } : { token: this.storedToken() };
    // text/plain keeps this a "simple" request: no CORS preflight from portals.
    return fetch(this.server + "/session", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body),
    }).then(function (resp) {
      if (!resp.ok) throw new Error("session refused (" + resp.status + ")");
      return resp.json();
    }).then(function (data) {
      if (!data || !TOKEN_RE.test(data.token || "")) throw new Error("bad session token");
      self.token = data.token;
      var ls = storage("localStorage");
      if (ls) ls.setItem(self.keyToken, data.token);
      return data.token;
    });
  };

  Widget.prototype.connect = function () {
    if (this.socket || this.connecting || !this.libs) return;
    var self = this;
    this.connecting = true;
    this.fetchToken(false).then(function () {
      self.connecting = false;
      self.openSocket();
    }, function () {
      self.connecting = false;
      self.setReady(false, self.t.reconnecting);
      setTimeout(function () { if (!self.panel.hidden) self.connect(); }, 5000);
    });
  };

  Widget.prototype.openSocket = function () {
    var self = this;
    var socket = this.libs.io(this.server, {
      path: "/socket.io", transports: ["websocket"],
      reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 10000,
      // Read on every (re)connect, so a renewed token is used.
      auth: function (cb) { cb({ token: self.token }); },
    });
    this.socket = socket;
    this.refusals = 0;
    socket.on("connect", function () {
      // The page server fills in the session bound to our token; no id is sent.
      socket.emit("session_request", {});
    });
    socket.on("session_confirm", function (id) {
      var sessionId = typeof id === "string" ? id : id && id.session_id;
      if (!SESSION_RE.test(sessionId || "")) return;
      var ls = storage("localStorage");
      if (ls) {
        var previous = ls.getItem(self.keySession);
        if (previous && previous !== sessionId) self.clearTranscript();
        ls.setItem(self.keySession, sessionId);
      }
      self.refusals = 0;
      self.setReady(true);
      if (self.pendingLanguage) {
        self.send(self.pendingLanguage, self.t.chosen);
        self.pendingLanguage = null;
      }
    });
    socket.on("bot_uttered", function (msg) { self.onBotMessage(msg); });
    socket.on("disconnect", function (reason) {
      self.setReady(false, self.t.reconnecting);
      self.showTyping(false);
      // socket.io retries lost transports itself, but not a server-initiated disconnect.
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 2000);
    });
    socket.on("connect_error", function (err) {
      self.setReady(false, self.t.reconnecting);
      // The server refused our token (expired, or its secret changed): get a new session.
      if (err && err.message === "session invalid" && self.refusals++ < 3) {
        self.fetchToken(true).then(function () { socket.connect(); }, function () { /* retried on reopen */ });
      }
    });
  };

  Widget.prototype.language = function (code) {
    return this.languages.filter(function (l) { return l.code === code; })[0] || null;
  };

  /** Take the server's languages: show them in the menu and apply the wanted one if offered. */
  Widget.prototype.setLanguages = function (languages) {
    this.languages = languages;
    var chosen = this.language(this.wantedLang) || this.language("en") || languages[0];
    this.lang = chosen.code;
    this.t = chosen.strings;
    this.renderLanguages();
    this.applyStrings();
  };

  /** The language menu: one option per interface language, named in itself; hidden when only one. */
  Widget.prototype.renderLanguages = function () {
    var select = this.langSelect;
    while (select.firstChild) select.removeChild(select.firstChild);
    this.languages.forEach(function (l) {
      select.appendChild(el("option", { value: l.code, lang: l.code, text: l.nativeName }));
    });
    select.value = this.lang;
    select.hidden = this.languages.length < 2;
  };

  /** Switch the interface and the tutor's reply language to one of the server's languages. */
  Widget.prototype.switchLanguage = function (lang) {
    var language = this.language(lang);
    if (!language || lang === this.lang) return;
    var payload = '/choose_language{"language":"' + lang + '"}';
    this.lang = lang;
    this.wantedLang = lang;
    this.t = language.strings;
    var ls = storage("localStorage");
    if (ls) ls.setItem(this.keyLang, lang);
    this.applyStrings();
    // Tell Rasa too, so answers follow; shown as the learner's choice in the transcript.
    // Offline: sent as soon as the session is confirmed.
    this.pendingLanguage = this.send(payload, this.t.chosen) ? null : payload;
  };

  /** Re-label every interface string after a language switch. */
  Widget.prototype.applyStrings = function () {
    var t = this.t;
    this.title = this.customTitle || t.title;
    this.rootEl.setAttribute("lang", this.lang);
    this.titleEl.textContent = this.title;
    this.panel.setAttribute("aria-label", this.title);
    this.log.setAttribute("aria-label", this.title);
    this.launcher.setAttribute("aria-label", this.panel.hidden ? t.open : t.close);
    [[this.resetBtn, t.reset], [this.closeBtn, t.close], [this.sendBtn, t.send]].forEach(function (p) {
      p[0].setAttribute("aria-label", p[1]);
      p[0].setAttribute("title", p[1]);
    });
    this.langSelect.value = this.lang;
    this.langSelect.setAttribute("aria-label", t.languageLabel);
    this.langSelect.setAttribute("title", t.languageLabel);
    this.input.setAttribute("placeholder", t.placeholder);
    this.input.setAttribute("aria-label", t.inputLabel);
    this.typing.querySelector(".tw-sr").textContent = t.typing;
    this.setStatus(this.ready ? t.online : t.connecting, !this.ready);
  };

  Widget.prototype.setReady = function (ready, text) {
    this.ready = ready;
    this.setStatus(ready ? this.t.online : (text || this.t.connecting), !ready);
    this.onInput();
  };

  Widget.prototype.setStatus = function (text, warn) {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("tw-warn", !!warn);
  };

  /* ----- sending ----- */

  Widget.prototype.onInput = function () {
    var len = this.input.value.length;
    this.sendBtn.disabled = !this.ready || !this.input.value.trim();
    this.counter.hidden = len < MAX_CHARS - 200;
    this.counter.textContent = len >= MAX_CHARS ? this.t.tooLong : len + " / " + MAX_CHARS;
    // Grow the textarea with its content, up to the CSS max-height.
    this.input.style.height = "auto";
    this.input.style.height = this.input.scrollHeight + "px";
  };

  Widget.prototype.sendTyped = function () {
    var text = this.input.value.trim().slice(0, MAX_CHARS);
    if (!text || !this.ready) return;
    this.input.value = "";
    this.onInput();
    this.send(text, text);
  };

  /** Send `payload` to the bot and show `shown` as the user's message. */
  Widget.prototype.send = function (payload, shown) {
    if (!this.ready) return false;
    this.addEntry({ from: "user", text: shown });
    this.socket.emit("user_uttered", { message: payload, customData: { language: this.lang } });
    this.showTyping(true);
    return true;
  };

  Widget.prototype.showTyping = function (on) {
    var self = this;
    clearTimeout(this.replyTimer);
    this.typing.hidden = !on;
    if (on) {
      this.replyTimer = setTimeout(function () {
        self.typing.hidden = true;
        self.addEntry({ from: "note", text: self.t.noReply }, false);
      }, REPLY_TIMEOUT_MS);
      this.scrollDown();
    }
  };

  /* ----- receiving and rendering ----- */

  Widget.prototype.onBotMessage = function (msg) {
    if (!msg || typeof msg !== "object") return;
    var text = typeof msg.text === "string" ? msg.text : "";
    var raw = Array.isArray(msg.quick_replies) ? msg.quick_replies : Array.isArray(msg.buttons) ? msg.buttons : [];
    var buttons = raw.filter(function (b) {
      return b && typeof b.title === "string" && (typeof b.payload === "string" || b.payload == null);
    }).map(function (b) { return { title: b.title, payload: b.payload == null ? b.title : b.payload }; });
    if (msg.type === "file" && typeof msg.content === "string") { // e.g. "export my data"
      this.showTyping(false);
      this.offerFile(msg);
      return;
    }
    if (!text && !buttons.length) return; // attachments and other custom payloads are not shown here
    this.showTyping(false);
    // Earlier buttons are answered or superseded once the bot moves on.
    if (buttons.length) {
      this.transcript.forEach(function (e) { if (e.buttons) e.used = true; });
      this.log.querySelectorAll(".tw-quick").forEach(function (b) { b.disabled = true; });
    }
    this.addEntry({ from: "bot", text: text, buttons: buttons });
    if (this.panel.hidden) this.launcher.classList.add("tw-unread");
  };

  /**
   * A file from the bot (the learner's data export): a download link to a blob made here.
   * Kept out of the saved transcript, which would otherwise hold a copy of the learner's data.
   */
  Widget.prototype.offerFile = function (msg) {
    var name = String(msg.name || "file.txt").replace(/[^\w.\-]+/g, "-").slice(0, 64) || "file.txt";
    var type = msg.mime_type === "application/json" ? "application/json" : "text/plain";
    var url = URL.createObjectURL(new Blob([msg.content], { type: type + ";charset=utf-8" }));
    var link = el("a", { className: "tw-download", href: url, download: name, text: this.t.download + ": " + name });
    var row = el("div", { className: "tw-msg tw-bot" }, [
      el("span", { className: "tw-sr", text: this.t.tutor + ": " }),
      el("div", { className: "tw-bubble" }, [link]),
    ]);
    this.log.appendChild(row);
    this.scrollDown();
    if (this.panel.hidden) this.launcher.classList.add("tw-unread");
  };

  Widget.prototype.addEntry = function (entry, persist) {
    if (persist !== false) {
      this.transcript.push(entry);
      this.saveTranscript();
    }
    this.renderEntry(entry);
    this.scrollDown();
  };

  Widget.prototype.renderEntry = function (entry) {
    var self = this;
    var row = el("div", { className: "tw-msg tw-" + entry.from });
    var who = entry.from === "user" ? this.t.you : this.t.tutor;
    if (entry.from !== "note") row.appendChild(el("span", { className: "tw-sr", text: who + ": " }));
    var bubble = el("div", { className: "tw-bubble" });
    if (entry.from === "bot") bubble.appendChild(this.render(entry.text));
    else bubble.textContent = entry.text;
    if (entry.text) row.appendChild(bubble);
    if (entry.buttons && entry.buttons.length) {
      var group = el("div", { className: "tw-buttons", role: "group" });
      entry.buttons.forEach(function (b) {
        var btn = el("button", { type: "button", className: "tw-quick", text: b.title, disabled: !!entry.used });
        btn.addEventListener("click", function () {
          if (!self.send(b.payload, b.title)) return;
          entry.used = true;
          self.saveTranscript();
          group.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          btn.classList.add("tw-chosen");
          self.input.focus();
        });
        group.appendChild(btn);
      });
      row.appendChild(group);
    }
    this.log.appendChild(row);
  };

  Widget.prototype.restore = function () {
    var self = this;
    if (!this.transcript.length) {
      this.renderEntry({ from: "bot", text: this.t.welcome });
    }
    this.transcript.forEach(function (e) { self.renderEntry(e); });
    this.scrollDown();
  };

  Widget.prototype.scrollDown = function () { this.log.scrollTop = this.log.scrollHeight; };

  /* ----- persistence ----- */

  Widget.prototype.loadTranscript = function () {
    var ls = storage("localStorage");
    try {
      var list = JSON.parse((ls && ls.getItem(this.keyTranscript)) || "[]");
      return Array.isArray(list) ? list.filter(function (e) {
        return e && (e.from === "user" || e.from === "bot") && typeof e.text === "string";
      }) : [];
    } catch (e) { return []; }
  };

  Widget.prototype.saveTranscript = function () {
    var ls = storage("localStorage");
    this.transcript = this.transcript.slice(-TRANSCRIPT_MAX);
    var plain = this.transcript.filter(function (e) { return e.from !== "note"; }).map(function (e) {
      return { from: e.from, text: e.text, buttons: e.buttons, used: e.used };
    });
    try { if (ls) ls.setItem(this.keyTranscript, JSON.stringify(plain)); } catch (e) { /* quota: keep going */ }
  };

  Widget.prototype.clearTranscript = function () {
    this.transcript = [];
    var ls = storage("localStorage");
    if (ls) ls.removeItem(this.keyTranscript);
    while (this.log.firstChild) this.log.removeChild(this.log.firstChild);
    if (this.render) this.renderEntry({ from: "bot", text: this.t.welcome });
  };

  /** Forget this browser's session (e.g. on a shared computer) and start afresh. */
  Widget.prototype.reset = function () {
    var self = this;
    var ls = storage("localStorage");
    if (ls) { ls.removeItem(this.keySession); ls.removeItem(this.keyToken); }
    this.token = null;
    this.clearTranscript();
    this.showTyping(false);
    if (this.socket) {
      this.setReady(false);
      this.socket.disconnect();
      this.socket = null;
    }
    // A new server-issued session (this also replaces the session cookie).
    this.fetchToken(true).then(function () { self.connect(); }, function () { self.connect(); });
    this.input.focus();
  };

  Widget.prototype.destroy = function () {
    if (this.socket) this.socket.disconnect();
    clearTimeout(this.replyTimer);
    this.host.remove();
  };

  /* ---------- public API and auto-init ---------- */

  function scriptOrigin() {
    try { return new URL(SCRIPT.src, location.href).origin; } catch (e) { return location.origin; }
  }

  window.TutorWidget = {
    version: "0.1.0",
    /**
     * Create the widget.
     * @param {{server?: string, title?: string, language?: string, colors?: {primary?: string, accent?: string}, open?: boolean}} options
     * @returns {Widget}
     */
    init: function (options) {
      options = options || {};
      var start = function () {
        return new Widget({
          server: options.server || scriptOrigin(), title: options.title,
          language: options.language, colors: options.colors, open: options.open,
        });
      };
      if (document.body) return (window.TutorWidget.instance = start());
      document.addEventListener("DOMContentLoaded", function () { window.TutorWidget.instance = start(); });
      return null;
    },
  };

  if (SCRIPT && SCRIPT.dataset.autoinit !== "false") {
    var d = SCRIPT.dataset;
    window.TutorWidget.init({
      server: d.server, title: d.title, language: d.lang,
      colors: { primary: d.primaryColor, accent: d.accentColor }, open: d.open === "true",
    });
  }
})();
