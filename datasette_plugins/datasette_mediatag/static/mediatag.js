// mediatag UI: small page scripts. Every text from the server goes into the DOM through textContent or
// attributes, never innerHTML, so no user text is ever interpreted as markup.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const config = () => { const c = $("#mt-config"); return c ? JSON.parse(c.textContent) : {}; };
  const csrf = () => { const m = $('meta[name="csrftoken"]'); return m ? m.content : ""; };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  async function getJSON(url, signal) {
    const r = await fetch(url, { credentials: "same-origin", signal });
    const data = await r.json().catch(() => ({ ok: false, error: `HTTP ${r.status}` }));
    if (!r.ok || data.ok === false) throw new Error(data.error || `HTTP ${r.status}`);
    return data;
  }

  async function postJSON(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": csrf() },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({ ok: false, error: `HTTP ${r.status}` }));
    if (!r.ok || data.ok === false) throw new Error(data.error || `HTTP ${r.status}`);
    return data;
  }

  const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined)).toString();
  const fmt = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  const thumb = (kf, alt) => el("img", { src: `/mediatag/thumb/${kf}/320.jpg`, width: 320, height: 240, loading: "lazy", decoding: "async", alt: alt || `keyframe ${kf}` });

  function say(target, text, isError) {
    const t = typeof target === "string" ? $(target) : target;
    if (!t) return;
    t.textContent = text;
    t.classList.toggle("mt-error", !!isError);
  }

  // A selectable tile: checkbox (`o.select` false: none, for people who cannot label), thumbnail, caption and,
  // with `o.asset`, a link to the keyframe's asset.
  function tile(kf, caption, extra, o) {
    const opts = Object.assign({ select: true }, o || {});
    const cap = el("span", { class: "mt-cap", text: caption });
    if (opts.asset) cap.append(" · ", el("a", { href: `/mediatag/asset?id=${opts.asset}`, text: "asset" }));
    return el("li", { class: "mt-tile", tabindex: 0, dataset: Object.assign({ kf: String(kf) }, extra || {}) },
      opts.select ? el("label", { class: "mt-check" }, el("input", { type: "checkbox", "aria-label": `Select keyframe ${kf}` }), " select") : null,
      thumb(kf), cap);
  }

  // ---- selection and keyboard on grids ----------------------------------------------------------------------------
  function selectedTiles(root) { return $$(".mt-select-grid .mt-tile.mt-selected", root); }
  function updateCount() {
    const c = $("#selected-count");
    if (c) c.textContent = `${selectedTiles().length} selected`;
    // Each grid's own label bar counts that grid's selection and shows once the grid has tiles.
    for (const bar of $$(".mt-labelbar[data-grid]")) {
      const grid = document.getElementById(bar.dataset.grid);
      bar.hidden = !grid || !$(".mt-tile", grid);
      $("[data-field=selected]", bar).textContent = `${grid ? selectedTiles(grid).length : 0} selected`;
    }
  }
  function setSelected(li, on) {
    li.classList.toggle("mt-selected", on);
    const cb = $("input[type=checkbox]", li);
    if (cb) cb.checked = on;
  }
  // The tile in `dir` from `li`, by layout (works for any number of columns).
  function neighbour(li, key) {
    const tiles = $$(".mt-tile[tabindex]", li.closest("section") || document);
    const i = tiles.indexOf(li);
    if (key === "ArrowRight") return tiles[i + 1];
    if (key === "ArrowLeft") return tiles[i - 1];
    const r = li.getBoundingClientRect();
    const cand = tiles.filter((t) => {
      const q = t.getBoundingClientRect();
      return key === "ArrowDown" ? q.top > r.top + 5 : q.top < r.top - 5;
    });
    const score = (t) => { const q = t.getBoundingClientRect(); return Math.abs(q.top - r.top) * 10 + Math.abs(q.left - r.left); };
    return cand.sort((a, b) => score(a) - score(b))[0];
  }
  function wireGrids(onKey) {
    document.addEventListener("change", (ev) => {
      const cb = ev.target;
      if (cb.matches(".mt-select-grid .mt-tile input[type=checkbox]")) {
        setSelected(cb.closest(".mt-tile"), cb.checked);
        updateCount();
      }
    });
    document.addEventListener("keydown", (ev) => {
      const li = ev.target.closest && ev.target.closest(".mt-tile[tabindex]");
      if (!li || ev.target.matches("input:not([type=checkbox]), textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key.startsWith("Arrow")) {
        const n = neighbour(li, ev.key);
        if (n) { n.focus(); ev.preventDefault(); }
      } else if (ev.key === " ") {
        setSelected(li, !li.classList.contains("mt-selected"));
        updateCount();
        ev.preventDefault();
      } else if (onKey && onKey(li, ev.key.toLowerCase())) {
        ev.preventDefault();
      }
    });
  }
  function focusNext(li) {
    const n = neighbour(li, "ArrowRight");
    if (n) n.focus();
  }

  // ---- polling --------------------------------------------------------------------------------------------------
  function renderJobs(jobs) {
    const p = $("#job-progress");
    if (p && jobs) p.textContent = `Jobs: ${jobs.queued} queued, ${jobs.running} running, ${jobs.done} done, ${jobs.error} failed`;
  }
  function poll(url, apply) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { apply(await getJSON(url)); } catch (e) { /* transient: the next tick retries */ } finally { busy = false; }
    };
    tick();
    return setInterval(tick, 1000);
  }

  // ---- pages ----------------------------------------------------------------------------------------------------
  const pages = {};

  pages.home = () => poll("/mediatag/api/status", (d) => renderJobs(d.jobs));

  pages.group = () => {
    const table = $("#group-status");
    if (!table) return;
    poll(table.dataset.poll, (d) => {
      renderJobs(d.jobs);
      const noWorker = $("#worker-status");
      if (noWorker) noWorker.hidden = d.workers !== 0 || !d.status.some((s) => s.status === "queued");
      for (const s of d.status) {
        const row = $$("tr[data-dataset]", table).find((r) => r.dataset.dataset === s.dataset);
        if (!row) continue;
        const cells = row.children;
        cells[2].textContent = s.applied_version ?? "–";
        cells[3].textContent = s.scored_version ?? "–";
        const st = $("[data-field=status]", row);
        st.textContent = s.status;
        st.className = `mt-status mt-status-${s.status}`;
        cells[5].textContent = s.scored_at || "";
      }
      for (const t of d.tags || []) {
        const row = $$("#group-tags tr[data-tag]").find((r) => r.dataset.tag === t.tag);
        const cell = row && $("[data-field=scored]", row);
        if (cell) cell.textContent = t.keyframes_scored === null ? "not scored" : `${t.keyframes_above_threshold} of ${t.keyframes_scored}`;
      }
    });
  };

  // Video Shots: a shot's tile plays its time range (a media fragment, #t=start,end: the browser stops at the end)
  // in place of its best keyframe while the pointer is over it, or from its ▶ button (keyboard and touch).
  const clock = (v) => `${Math.floor(v / 60000)}:${String(Math.floor(v / 1000) % 60).padStart(2, "0")}.${Math.floor(v % 1000 / 100)}`;
  function shotButton(r) {
    return el("button", { type: "button", class: "mt-shot-play", "aria-label": `Play shot ${clock(r.shot_start_ms)}–${clock(r.shot_end_ms)}`,
                          dataset: { asset: String(r.asset_id), startMs: String(r.shot_start_ms), endMs: String(r.shot_end_ms) },
                          text: `▶ ${clock(r.shot_start_ms)}–${clock(r.shot_end_ms)}` });
  }
  function playShot(li) {
    const b = $(".mt-shot-play", li);
    if (!b) return;
    const start = Number(b.dataset.startMs) / 1000, end = Number(b.dataset.endMs) / 1000;
    let v = $("video.mt-shot-video", li);
    if (!v) {
      v = el("video", { class: "mt-shot-video", muted: true, playsinline: true, preload: "auto", width: 320, height: 240,
                        src: `/mediatag/video/${b.dataset.asset}#t=${start.toFixed(3)},${end.toFixed(3)}`, "aria-label": b.getAttribute("aria-label") });
      v.muted = true;
      // timeupdate comes every ~250 ms: each painted frame checks, so the shot stops at its own end, not the next's.
      const stopAtEnd = () => {
        if (v.paused) return;  // (once paused, the seek to the end below must not start this again)
        if (v.currentTime >= end) { v.pause(); v.currentTime = end; } else requestAnimationFrame(stopAtEnd);
      };
      v.addEventListener("playing", () => requestAnimationFrame(stopAtEnd));
      v.addEventListener("timeupdate", stopAtEnd);
      const img = $("img", li);
      if (img) { img.hidden = true; img.after(v); } else li.prepend(v);
    } else if (v.currentTime >= end - 0.05 || v.currentTime < start) {
      v.currentTime = start;
    }
    v.play().catch(() => { /* a pointer that left at once: nothing to play */ });
  }
  function stopShot(li) {
    const v = $("video.mt-shot-video", li);
    if (!v) return;
    v.pause();
    v.remove();
    const img = $("img", li);
    if (img) img.hidden = false;
  }
  function wireShotPlayback(root) {
    root.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest(".mt-shot-play");
      if (!b) return;
      e.preventDefault(); e.stopPropagation();  // not a click on the tile: that selects it for labeling
      playShot(b.closest(".mt-tile"));
    }, true);
    root.addEventListener("pointerover", (e) => {
      const li = e.target.closest && e.target.closest(".mt-tile");
      if (li && !li.contains(e.relatedTarget)) playShot(li);
    });
    root.addEventListener("pointerout", (e) => {
      const li = e.target.closest && e.target.closest(".mt-tile");
      if (li && !li.contains(e.relatedTarget)) stopShot(li);
    });
  }

  pages.tag = () => {
    const cfg = config();
    const slider = $("#threshold");
    const out = $("#threshold-value");
    const preview = $("#preview");
    const level = preview.dataset.level;
    let kind = cfg.kind || "compare";
    let controller = null;
    window.mtRedraws = [];
    if (level === "shot") wireShotPlayback(preview);
    preview.dataset.threshold = Number(cfg.threshold).toFixed(2);
    preview.dataset.ready = "1";

    function renderKeyframes(rows) {
      for (const side of ["positive", "negative"]) {
        const wrap = $(`.mt-side[data-side=${side}]`, preview);
        wrap.hidden = (kind === "positives" && side === "negative") || (kind === "negatives" && side === "positive");
        const grid = $(`.mt-grid[data-side=${side}]`, wrap);
        const tiles = rows.filter((r) => r.side === side)
          .map((r) => {
            const li = tile(r.keyframe_id, `score ${fmt(r.score)}`, { score: String(r.score) }, { select: cfg.can_edit, asset: r.asset_id });
            if (level === "shot" && r.shot_start_ms !== null) $(".mt-cap", li).append(" · ", shotButton(r));
            return li;
          });
        grid.replaceChildren(...tiles);
      }
      updateCount();
    }
    function renderTranscripts(rows) {
      const body = $("#transcript-rows");
      const ms = (v) => `${Math.floor(v / 60000)}:${String(Math.floor(v / 1000) % 60).padStart(2, "0")}`;
      body.replaceChildren(...rows.map((r) => el("tr", {},
        el("td", { text: fmt(r.score) }), el("td", { text: r.decision ? "yes" : "no" }),
        el("td", {}, el("a", { href: `/mediatag/asset?id=${r.asset_id}`, text: String(r.asset_id) })),
        el("td", { text: `${ms(r.start_ms)}–${ms(r.end_ms)}` }), el("td", { text: r.text }),
        el("td", { class: "mt-source", text: (r.source || "subtitle").replace(/:(.*)$/, " ($1)") }))));
      if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 6, text: "No transcript segments." })));
    }

    async function redraw(t0) {
      const thr = Number(slider.value);
      if (level === "stratified") {  // the buckets stay; the threshold only says yes or no of each keyframe
        for (const li of $$(".mt-tile[data-score]", preview)) $("[data-field=decision]", li).textContent = Number(li.dataset.score) >= thr ? "yes" : "no";
        preview.dataset.threshold = thr.toFixed(2);
        return;
      }
      if (controller) controller.abort();
      controller = new AbortController();
      const params = { group: cfg.group, tag: cfg.tag, level, kind, threshold: thr.toFixed(2), sort: cfg.sort || "score" };
      try {
        const d = await getJSON(`/mediatag/api/preview?${qs(params)}`, controller.signal);
        if (level === "transcript") renderTranscripts(d.rows); else renderKeyframes(d.rows);
        preview.dataset.threshold = thr.toFixed(2);
        const ms = performance.now() - t0;
        window.mtRedraws.push(ms);
        say("#redraw-time", `redrawn in ${ms.toFixed(0)} ms`);
      } catch (e) {
        if (e.name !== "AbortError") say("#preview-status", e.message, true);
      }
    }
    slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(2); redraw(performance.now()); });
    for (const r of $$("input[name=kind]")) r.addEventListener("change", () => { kind = r.value; redraw(performance.now()); });

    const save = $("#save-threshold");
    if (save) save.addEventListener("click", async () => {
      try {
        await postJSON("/mediatag/api/threshold", { group: cfg.group, tag: cfg.tag, threshold: Number(slider.value) });
        $("#saved-threshold").textContent = Number(slider.value).toFixed(2);
        say("#preview-status", "threshold saved");
      } catch (e) { say("#preview-status", e.message, true); }
    });

    async function label(tiles, value, status) {
      const where = status || "#preview-status";
      if (!tiles.length) { say(where, "select keyframes first", true); return; }
      const byOrigin = {};
      for (const t of tiles) {
        const origin = (t.closest("[data-origin]") || {}).dataset?.origin || "preview";
        (byOrigin[origin] = byOrigin[origin] || []).push(Number(t.dataset.kf));
      }
      try {
        let n = 0;
        for (const [origin, keyframes] of Object.entries(byOrigin)) {
          n += (await postJSON("/mediatag/api/label", { group: cfg.group, tag: cfg.tag, keyframes, label: value, origin })).labeled;
        }
        for (const t of tiles) { t.dataset.label = value ? "yes" : "no"; setSelected(t, false); }
        updateCount();
        if (level !== "transcript") await redraw(performance.now());
        say(where, `${n} labeled ${value ? "yes" : "no"}; retrained`);
        document.dispatchEvent(new CustomEvent("mt:changed", { detail: { tiles, label: value } }));
      } catch (e) { say(where, e.message, true); }
    }
    if (cfg.can_edit) {
      $("#label-yes")?.addEventListener("click", () => label(selectedTiles(), true));
      $("#label-no")?.addEventListener("click", () => label(selectedTiles(), false));
      $("#select-none")?.addEventListener("click", () => { selectedTiles().forEach((t) => setSelected(t, false)); updateCount(); });
      for (const bar of $$(".mt-labelbar[data-grid]")) {
        for (const b of $$("button[data-label]", bar)) {
          b.addEventListener("click", () => label(selectedTiles(document.getElementById(bar.dataset.grid)), b.dataset.label === "yes", $("[data-field=status]", bar)));
        }
      }
    }
    // After a label the preview is redrawn (its tiles replaced): focus goes to the tile that followed, found again
    // by its keyframe, else to the tile now at the same place in the same grid, so y / n can go on.
    function refocus(grid, index, nextKf) {
      const scope = grid && grid.isConnected ? grid.closest("section") || document : document;
      const again = nextKf && $$(".mt-select-grid .mt-tile", scope).find((t) => t.dataset.kf === nextKf);
      const tiles = grid && grid.isConnected ? $$(".mt-tile", grid) : [];
      const target = again || tiles[Math.min(index, tiles.length - 1)];
      if (target) target.focus();
    }
    wireGrids((li, key) => {
      if (key === "s") { focusNext(li); return true; }
      if (!cfg.can_edit || (key !== "y" && key !== "n")) return false;
      const next = neighbour(li, "ArrowRight");
      const grid = li.closest(".mt-grid");
      const index = $$(".mt-tile", grid).indexOf(li);
      // The focused tile and every selected one: a selection is never dropped unlabeled.
      const tiles = [...new Set([...selectedTiles(), li])];
      label(tiles, key === "y").then(() => refocus(grid, index, next && next !== li ? next.dataset.kf : null));
      return true;
    });

    const search = $("#label-search");
    if (search) search.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const grid = $("#label-search-results");
      try {
        const d = await getJSON(`/mediatag/api/search_for_labeling?${qs({ group: cfg.group, q: $("#label-search-q").value })}`);
        grid.replaceChildren(...d.rows.map((r) => tile(r.keyframe_id, `similarity ${fmt(r.similarity)}${r.current_label === null ? "" : r.current_label ? " · labeled yes" : " · labeled no"}`, {}, { asset: r.asset_id })));
      } catch (e) { grid.replaceChildren(el("li", { class: "mt-error", text: e.message })); }
      updateCount();
    });
    $("#load-uncertain")?.addEventListener("click", async () => {
      const grid = $("#uncertain-results");
      try {
        const d = await getJSON(`/mediatag/api/uncertain?${qs({ group: cfg.group, tag: cfg.tag })}`);
        grid.replaceChildren(...d.rows.map((r) => tile(r.keyframe_id, `score ${fmt(r.score)}`, {}, { asset: r.asset_id })));
      } catch (e) { grid.replaceChildren(el("li", { class: "mt-error", text: e.message })); }
      updateCount();
    });

    const suggest = $("#suggest-prompts");
    if (suggest) suggest.addEventListener("click", async () => {
      const list = $("#suggestion-list");
      try {
        const d = await getJSON(`/mediatag/api/suggest_prompts?${qs({ group: cfg.group, tag: cfg.tag })}`);
        list.replaceChildren(...d.rows.map((r) => {
          const li = el("li", { "data-prompt": r.prompt }, el("span", { text: `${r.modality} ${r.polarity}: ${r.prompt} ` }), el("small", { text: `(${r.source})` }));
          if (cfg.can_edit) {
            // Named by its prompt: a screen reader's list of buttons is not eighteen "Add"s.
            const b = el("button", { type: "button", text: "Add", "aria-label": `Add ${r.modality} ${r.polarity} prompt: ${r.prompt}` });
            b.addEventListener("click", async () => {
              b.disabled = true;
              try {
                await postJSON("/mediatag/api/prompt", { group: cfg.group, tag: cfg.tag, prompt: r.prompt, polarity: r.polarity, modality: r.modality, origin: "llm" });
                b.textContent = "Added";
                document.dispatchEvent(new CustomEvent("mt:changed", { detail: { prompts: true } }));
              } catch (e) { b.disabled = false; say(li, e.message, true); }
            });
            li.append(" ", b);
          }
          return li;
        }));
        const all = $("#add-all-suggested");
        if (all) all.hidden = !d.rows.length;
      } catch (e) { list.replaceChildren(el("li", { class: "mt-error", text: e.message })); }
    });
    $("#add-all-suggested")?.addEventListener("click", async (ev) => {
      const all = ev.currentTarget;
      all.disabled = true;
      try {
        const d = await postJSON("/mediatag/api/add_suggested_prompts", { group: cfg.group, tag: cfg.tag });
        for (const b of $$("#suggestion-list button")) { b.disabled = true; b.textContent = "Added"; }
        say("#preview-status", `${d.added} suggested prompts added; retrained`);
        document.dispatchEvent(new CustomEvent("mt:changed", { detail: { prompts: true } }));
      } catch (e) { all.disabled = false; say("#suggestion-list", e.message, true); }
    });

    // After any change (labels, prompts): the header's counts and version, the prompt lists and the preview
    // follow at once, and a labeled tile says how it was labeled.
    async function refreshTag(ev) {
      const detail = ev.detail || {};
      for (const t of detail.tiles || []) {
        const cap = $(".mt-cap", t);
        if (!cap) continue;
        // Search results came with the saved label in words: the new one replaces it.
        for (const n of cap.childNodes) if (n.nodeType === 3) n.textContent = n.textContent.replace(/ · labeled (yes|no)/, "");
        let mark = $("[data-field=labeled]", cap);
        if (!mark) { mark = el("span", { "data-field": "labeled" }); cap.append(mark); }
        mark.textContent = ` · labeled ${detail.label ? "yes" : "no"}`;
      }
      let row;
      try { row = (await getJSON(`/mediatag/api/tag_overview?${qs({ group: cfg.group, tag: cfg.tag })}`)).tag; } catch (e) { say("#preview-status", e.message, true); return; }
      for (const f of ["labels_yes", "labels_no", "classifier_version"]) {
        const n = $(`#tag-counts [data-field=${f}]`);
        if (n) n.textContent = row[f] ?? "–";
      }
      for (const box of $$(".mt-prompts[data-modality][data-polarity]")) {
        const list = $("ul", box);
        const shown = new Set($$("li", list).map((li) => li.dataset.prompt || $("input[name=prompt]", li)?.value || li.textContent.trim()));
        const fresh = row[`${box.dataset.modality}_${box.dataset.polarity}`] || [];
        if (fresh.length) $$("li.mt-hint", list).forEach((li) => li.remove());  // "none"
        for (const p of fresh) if (!shown.has(p)) list.append(el("li", { class: "mt-new", "data-prompt": p, text: p }));
      }
      if (detail.prompts && level !== "transcript") await redraw(performance.now());
    }
    document.addEventListener("mt:changed", refreshTag);
  };

  // The vision model's progress as a sentence (the row's fields, not its internal ids).
  function llmProgress(p) {
    if (!p.asked && !p.job_state) return "The vision model has not been asked yet.";
    const cost = p.cost_usd === null || p.cost_usd === undefined ? "" : `, $${Number(p.cost_usd).toFixed(4)}`;
    const state = { queued: " (waiting for a worker)", running: " (asking…)", error: " (failed)" }[p.job_state] || "";
    return `Vision model${p.model ? ` ${p.model}` : ""}: ${p.answered} answered, ${p.failed} failed, ${p.remaining} remaining; ${p.tokens} tokens${cost}${state}`;
  }

  pages.evaluation = () => {
    const cfg = config();
    const e = cfg.evaluation;
    if (cfg.level === "shot" && $("#eval-items")) wireShotPlayback($("#eval-items"));
    const slider = $("#eval-threshold");
    const input = $("#eval-threshold-input");
    const metricSel = $("#metric");
    let data = { rows: [], suggestions: {} };
    const colours = { f1: "#2563eb", f05: "#7c3aed", precision: "#15803d", accuracy: "#a16207", recall: "#b91c1c" };

    function nearest(thr) {
      const rows = data.rows;
      let best = null;
      for (const r of rows) if (best === null || Math.abs(r.threshold - thr) < Math.abs(best.threshold - thr)) best = r;
      return best;
    }
    function drawChart() {
      const W = 760, H = 320, L = 40, R = 110, T = 10, B = 30;
      const x = (t) => L + t * (W - L - R), y = (v) => T + (1 - v) * (H - T - B);
      const ns = "http://www.w3.org/2000/svg";
      const s = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; return n; };
      const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet" });
      for (let i = 0; i <= 10; i += 2) {
        svg.append(s("line", { x1: x(i / 10), x2: x(i / 10), y1: T, y2: H - B, stroke: "#eee" }));
        svg.append(s("text", { x: x(i / 10), y: H - B + 14, "text-anchor": "middle" }, (i / 10).toFixed(1)));
        svg.append(s("line", { x1: L, x2: W - R, y1: y(i / 10), y2: y(i / 10), stroke: "#eee" }));
        svg.append(s("text", { x: L - 6, y: y(i / 10) + 4, "text-anchor": "end" }, (i / 10).toFixed(1)));
      }
      svg.append(s("text", { x: (W - R + L) / 2, y: H - 2, "text-anchor": "middle" }, "threshold"));
      let k = 0;
      for (const [m, label] of Object.entries(cfg.metrics)) {
        const pts = data.rows.filter((r) => r[m] !== null).map((r) => `${x(r.threshold).toFixed(1)},${y(r[m]).toFixed(1)}`).join(" ");
        const selected = m === metricSel.value;
        svg.append(s("polyline", { points: pts, fill: "none", stroke: colours[m], "stroke-width": selected ? 3 : 1.5, "data-metric": m }));
        svg.append(s("text", { x: W - R + 8, y: T + 14 + 16 * k, fill: colours[m], "font-weight": selected ? "bold" : "normal" }, label));
        k++;
      }
      const sug = data.suggestions[metricSel.value];
      if (sug) {
        svg.append(s("line", { x1: x(sug.threshold), x2: x(sug.threshold), y1: T, y2: H - B, stroke: "#111", "stroke-dasharray": "4 3", id: "suggested-line" }));
        svg.append(s("text", { x: x(sug.threshold) + 4, y: T + 12 }, `suggested ${sug.threshold.toFixed(2)}`));
      }
      svg.append(s("line", { x1: x(Number(slider.value)), x2: x(Number(slider.value)), y1: T, y2: H - B, stroke: "#f97316", "stroke-width": 2, id: "current-line" }));
      $("#chart").replaceChildren(svg);
    }
    function showValues() {
      const thr = Number(slider.value);
      const r = nearest(thr);
      for (const td of $$("#metric-values td[data-metric]")) td.textContent = r ? fmt(r[td.dataset.metric]) : "–";
      const line = $("#current-line");
      if (line) { const W = 760, L = 40, R = 110; const xx = L + thr * (W - L - R); line.setAttribute("x1", xx); line.setAttribute("x2", xx); }
      const hidden = $("#save-threshold-value");
      if (hidden) hidden.value = thr.toFixed(3);
    }
    function setThreshold(v) { slider.value = v; input.value = Number(v).toFixed(2); showValues(); }
    let loads = 0;
    async function loadMetrics() {
      const mine = ++loads;
      let fresh;
      try {
        fresh = await getJSON(`/mediatag/api/evaluations/${e}/metrics`);
      } catch (err) { if (mine === loads) say("#suggestion", err.message, true); return; }
      if (mine !== loads) return;  // a later load (after more judging) is on its way: never show older figures
      data = fresh;
      if (!data.rows.length) { say("#suggestion", "Judge some items below to see metrics."); $("#chart").replaceChildren(); return; }
      const sug = data.suggestions[metricSel.value];
      say("#suggestion", sug ? `Suggested threshold for ${cfg.metrics[metricSel.value]}: ${sug.threshold.toFixed(2)} (${fmt(sug.value)} on ${sug.judged} judged)` : "");
      drawChart();
      showValues();
    }
    metricSel.addEventListener("change", () => {
      const sug = data.suggestions[metricSel.value];
      $("#save-metric") && ($("#save-metric").value = metricSel.value);
      if (sug) setThreshold(sug.threshold);
      loadMetrics();
    });
    slider.addEventListener("input", () => { input.value = Number(slider.value).toFixed(2); showValues(); });
    input.addEventListener("input", () => { const v = Math.min(1, Math.max(0, Number(input.value) || 0)); slider.value = v; showValues(); });

    function renderItem(li, truth, removed) {
      if (truth !== undefined) {
        li.dataset.truth = truth === null ? "none" : truth ? "yes" : "no";
        $("[data-field=truth]", li).textContent = truth === null ? "unjudged" : truth ? "applies" : "does not apply";
      }
      if (removed !== undefined) li.classList.toggle("mt-removed", removed);
    }
    function progress(s) {
      if (!s) return;
      for (const f of ["judged", "items", "removed"]) { const n = $(`#eval-progress [data-field=${f}]`); if (n) n.textContent = s[f]; }
    }
    async function judge(tiles, body) {
      if (!tiles.length) return;
      try {
        const d = await postJSON(`/mediatag/api/evaluations/${e}/truth`, Object.assign({ keyframes: tiles.map((t) => Number(t.dataset.kf)) }, body));
        for (const t of tiles) { renderItem(t, "truth" in body ? body.truth : undefined, "removed" in body ? body.removed : undefined); setSelected(t, false); }
        updateCount();
        progress(d.summary);
        await loadMetrics();
      } catch (err) { say("#suggestion", err.message, true); }
    }
    if (cfg.can_edit) {
      $("#select-all").addEventListener("click", () => { $$("#eval-items .mt-tile").forEach((t) => setSelected(t, true)); updateCount(); });
      $("#select-none").addEventListener("click", () => { selectedTiles().forEach((t) => setSelected(t, false)); updateCount(); });
      $("#truth-yes").addEventListener("click", () => judge(selectedTiles(), { truth: true }));
      $("#truth-no").addEventListener("click", () => judge(selectedTiles(), { truth: false }));
      $("#remove-items").addEventListener("click", () => judge(selectedTiles(), { removed: true }));
      $("#restore-items").addEventListener("click", () => judge(selectedTiles(), { removed: false }));
    }
    wireGrids((li, key) => {
      if (!cfg.can_edit) return false;
      if (key === "y" || key === "n") { judge([li], { truth: key === "y" }).then(() => focusNext(li)); return true; }
      if (key === "s") { focusNext(li); return true; }
      return false;
    });
    const ask = $("#ask-llm");
    if (ask) ask.addEventListener("click", async () => {
      try { await postJSON("/mediatag/api/request_ground_truth", { evaluation: e }); say("#llm-progress", "queued"); } catch (err) { say("#llm-progress", err.message, true); }
    });
    if ($("#llm-progress")) poll(`/mediatag/api/evaluations/${e}/progress`, (d) => {
      progress(d.summary);
      if (d.llm) say("#llm-progress", llmProgress(d.llm), d.llm.job_state === "error");
    });
    loadMetrics();
  };

  pages.concept = () => {
    const cfg = config();
    if (!cfg.can_edit) return;  // viewers see the top content only
    const grid = $("#concept-batch");
    const states = ["", "yes", "no"];
    // Every grid of the page takes labels the same way (search results, the batch, top content).
    function setLabel(li, value) {
      if (value) li.dataset.label = value; else delete li.dataset.label;
      const cap = $("[data-field=label]", li) || $(".mt-cap", li);
      cap.textContent = value || "unlabeled";
    }
    document.addEventListener("click", (ev) => {
      const li = ev.target.closest && ev.target.closest(".mt-label-grid .mt-tile");
      if (!li || ev.target.closest("a")) return;
      const i = states.indexOf(li.dataset.label || "");
      setLabel(li, states[(i + 1) % 3]);
    });
    // The labels of a grid that differ from what is saved, by label (a tile cleared keeps its saved label).
    function changed(g) {
      const labels = { yes: [], no: [], skip: [] };
      for (const li of $$(".mt-tile", g)) if (li.dataset.label && li.dataset.label !== li.dataset.saved) labels[li.dataset.label].push(Number(li.dataset.kf));
      return labels;
    }
    const pending = (g) => Object.values(changed(g)).some((l) => l.length);
    // A labeled tile as the page's template draws one (mediatag_concept.html, label_tile).
    function labelTile(r, caption) {
      const label = r.current_label || null;
      return el("li", { class: "mt-tile", tabindex: 0, dataset: Object.assign({ kf: String(r.keyframe_id) }, label ? { label, saved: label } : {}) },
        thumb(r.keyframe_id), el("span", { class: "mt-cap" }, caption ? `${caption} · ` : "", el("span", { "data-field": "label", text: label || "unlabeled" }), " · ",
          el("a", { href: `/mediatag/asset?id=${r.asset_id}`, text: "asset" })));
    }
    // What a save changed, in place: the header's label counts and classifier version, and the top content as the
    // retrained classifier ranks it (unless it holds labels not yet saved, which a redraw would drop).
    function showConcept(d) {
      for (const [f, v] of Object.entries({ yes: d.concept?.labels_yes, no: d.concept?.labels_no, skip: d.concept?.labels_skip, examples: d.concept?.examples, version: d.concept?.version })) {
        const n = $(`#concept-counts [data-field=${f}]`);
        if (n && v !== undefined && v !== null) n.textContent = String(v);
      }
      const top = $("#concept-top");
      if (top && d.top && !pending(top)) top.replaceChildren(...d.top.map((r) => labelTile(r, r.score === null ? "" : fmt(r.score))));
    }
    async function save(g) {
      const d = await postJSON("/mediatag/api/concepts/label", { concept: cfg.concept, labels: changed(g) });
      for (const li of $$(".mt-tile", g)) if (li.dataset.label) li.dataset.saved = li.dataset.label;
      // A keyframe shown in two grids (a search result that is also top content) says its new label in both.
      for (const li of $$(".mt-label-grid .mt-tile")) {
        const same = $$(".mt-tile", g).find((t) => t.dataset.kf === li.dataset.kf);
        if (same && li !== same && same.dataset.saved && !(li.dataset.label && li.dataset.label !== li.dataset.saved)) {
          setLabel(li, same.dataset.saved);
          li.dataset.saved = same.dataset.saved;
        }
      }
      showConcept(d);
      return d.labeled;
    }
    async function next(done = "", focus = true) {
      try {
        const d = await getJSON(`/mediatag/api/concepts/next?${qs({ concept: cfg.concept, n: 12 })}`);
        grid.replaceChildren(...d.rows.map((r) => labelTile(r, "")));
        // What was just saved stays in the status line with the next batch's count.
        say("#concept-status", done + (d.rows.length ? `${d.rows.length} to label` : "nothing left to label"));
        // On arrival the first tile to label is the first search result (step 1), after a save the next batch's.
        const first = done ? $(".mt-tile", grid) : $(".mt-label-grid .mt-tile");
        if (first && focus) first.focus();
      } catch (e) { say("#concept-status", e.message, true); }
    }
    async function submit() {
      try {
        const n = await save(grid);
        say("#concept-status", `${n} labels saved`);
        await next(`${n} labels saved; `);
      } catch (e) { say("#concept-status", e.message, true); }
    }
    async function saveGrid(id) {
      const status = $(`[data-status="${id}"]`);
      try {
        const n = await save(document.getElementById(id));
        // The batch below was picked before these labels: unless it holds labels of its own, it is picked again
        // (none of it labeled already, and chosen by the retrained classifier). The focus stays where it is.
        if (grid && !pending(grid)) await next("", false);
        say(status, `${n} labels saved; the next batch learns from them`);
      } catch (e) { say(status, e.message, true); }
    }
    document.addEventListener("keydown", (ev) => {
      const li = ev.target.closest && ev.target.closest(".mt-label-grid .mt-tile");
      if (!li || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const key = ev.key.toLowerCase();
      if (ev.key.startsWith("Arrow")) { const n = neighbour(li, ev.key); if (n) n.focus(); ev.preventDefault(); }
      else if (key === "y" || key === "n" || key === "s") { setLabel(li, { y: "yes", n: "no", s: "skip" }[key]); focusNext(li); ev.preventDefault(); }
      else if (ev.key === "Enter") {
        const g = li.closest(".mt-label-grid");
        if (g === grid) submit(); else saveGrid(g.id);
        ev.preventDefault();
      }
    });
    $("#concept-submit")?.addEventListener("click", submit);
    for (const b of $$("button[data-save]")) b.addEventListener("click", () => saveGrid(b.dataset.save));
    if (grid) next();
  };

  pages.search = () => {
    for (const a of $$("[data-hovercard]")) {
      const card = a.nextElementSibling;
      let loaded = false;
      a.addEventListener("mouseenter", async () => {
        card.hidden = false;
        if (loaded) return;
        loaded = true;
        try {
          const d = await getJSON(`/mediatag/api/concepts/top?${qs({ concept: a.dataset.hovercard, n: 3 })}`);
          card.replaceChildren(...d.rows.map((r) => thumb(r.keyframe_id)));
        } catch (e) { card.replaceChildren(el("span", { class: "mt-error", text: e.message })); }
      });
      a.parentElement.addEventListener("mouseleave", () => { card.hidden = true; });
    }
  };

  // A form that takes seconds (a new group trains a classifier per tag): once sent, its button is off (no second
  // submit) and a spinner with the form's data-busy words shows until the next page arrives.
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!form.matches || !form.matches("form[data-busy]") || ev.defaultPrevented) return;
    const button = ev.submitter || $("button[type=submit]", form);
    form.setAttribute("aria-busy", "true");
    // After this event: a button disabled now would leave its own name=value out of the form's data.
    setTimeout(() => { if (button) button.disabled = true; });
    let status = $(".mt-busy", form);
    if (!status) { status = el("span", { class: "mt-busy", role: "status" }); form.append(status); }
    // getAttribute: a form's named controls shadow its properties, and these forms have a control named "dataset".
    status.textContent = form.getAttribute("data-busy");
  });

  // The asset page's player: a shot, keyframe, transcript line or segment (anything with data-seek-ms) seeks
  // there; `?t=MS` in the page's address (a search result's time) seeks there once the video's metadata is in.
  pages.asset = () => {
    const player = $("#asset-player");
    if (!player) return;
    const seek = (ms) => {
      const go = () => { player.currentTime = ms / 1000; };
      if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
    };
    const target = (e) => e.target.closest && e.target.closest("[data-seek-ms]");
    document.addEventListener("click", (e) => { const t = target(e); if (t) { e.preventDefault(); seek(Number(t.dataset.seekMs)); } });
    document.addEventListener("keydown", (e) => { const t = target(e); if (t && e.key === "Enter") seek(Number(t.dataset.seekMs)); });
    const t = new URLSearchParams(location.search).get("t");
    if (t !== null && /^\d+$/.test(t)) seek(Number(t));
    scoreTimeline(seek, player);
    reels();
  };

  // The score timeline: per tag of the chosen group, an SVG of score (0 at the bottom, 1 at the top) against the
  // video's time: shots as bars, keyframes as a line, the threshold dashed (the shots' dotted where theirs differs),
  // the tag's segments shaded, a playhead. A click anywhere on a chart seeks there.
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  function scoreTimeline(seek, player) {
    const cfgEl = $("#asset-time-config");
    const box = $("#score-timeline");
    const pick = $("#timeline-group");
    if (!cfgEl || !box || !pick) return;
    const cfg = JSON.parse(cfgEl.textContent);
    const W = 1000, H = 100, dur = cfg.duration_ms;
    const x = (ms) => (W * ms / dur).toFixed(2);
    const y = (score) => (H * (1 - score)).toFixed(2);
    const heads = [];
    function chart(tag, rows, segments) {
      const kfs = rows.filter((r) => r.level === "keyframe");
      const shots = rows.filter((r) => r.level === "shot");
      const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "mt-tl-chart",
                             role: "img", "aria-label": `${tag}: score against time; click to play from there` });
      for (const s of segments) g.append(svg("rect", { class: "mt-tl-seg", x: x(s.start_ms), y: 0, width: x(s.end_ms - s.start_ms), height: H }));
      for (const s of shots) g.append(svg("rect", { class: "mt-tl-shot", x: x(s.start_ms), y: y(s.score), width: x(s.end_ms - s.start_ms), height: (H * s.score).toFixed(2) }));
      if (kfs.length) g.append(svg("polyline", { class: "mt-tl-kf", points: kfs.map((r) => `${x(r.start_ms)},${y(r.score)}`).join(" ") }));
      const thr = kfs.length ? kfs[0].threshold : (shots[0] || {}).threshold;
      if (thr !== undefined) g.append(svg("line", { class: "mt-tl-thr", x1: 0, x2: W, y1: y(thr), y2: y(thr) }));
      const shotThr = shots.length ? shots[0].threshold : thr;
      if (shotThr !== thr) g.append(svg("line", { class: "mt-tl-thr mt-tl-shot-thr", x1: 0, x2: W, y1: y(shotThr), y2: y(shotThr) }));
      const head = svg("line", { class: "mt-tl-head", x1: 0, x2: 0, y1: 0, y2: H });
      g.append(head);
      heads.push(head);
      g.addEventListener("click", (e) => {
        const r = g.getBoundingClientRect();
        seek(Math.round(Math.min(Math.max((e.clientX - r.left) / r.width, 0), 1) * dur));
      });
      const caption = `${tag} · threshold ${fmt(thr, 2)}` + (shotThr !== thr ? ` (shots ${fmt(shotThr, 2)})` : "") +
        ` · ${segments.length} segment${segments.length === 1 ? "" : "s"}`;
      return el("figure", { class: "mt-tl", dataset: { tag } }, el("figcaption", { text: caption }), g);
    }
    async function draw() {
      const group = pick.value;
      heads.length = 0;
      say(box, "Loading…");
      try {
        const d = await getJSON(`/mediatag/api/asset_score_timeline?${qs({ asset: cfg.asset, group })}`);
        const byTag = new Map();
        for (const r of d.rows) { if (!byTag.has(r.tag)) byTag.set(r.tag, []); byTag.get(r.tag).push(r); }
        box.replaceChildren(...[...byTag].map(([tag, rows]) => chart(tag, rows,
          cfg.segments.filter((s) => s.tag_group === group && s.tag === tag))));
        if (!byTag.size) say(box, "No scores of this group for this video.");
      } catch (e) { say(box, e.message, true); }
    }
    player.addEventListener("timeupdate", () => {
      for (const h of heads) { const v = x(player.currentTime * 1000); h.setAttribute("x1", v); h.setAttribute("x2", v); }
    });
    pick.addEventListener("change", draw);
    draw();
  }

  // "Make reel" (editors): the plugin cuts this video's segments of the row's tag in the background; the row shows
  // its progress, then a link to the file.
  function reels() {
    const cfgEl = $("#asset-time-config");
    const asset = cfgEl ? JSON.parse(cfgEl.textContent).asset : Number(new URLSearchParams(location.search).get("id"));
    for (const button of $$("#asset-exports .mt-reel")) {
      const row = button.closest("tr");
      const bar = $(".mt-reel-progress", row), status = $(".mt-reel-status", row);
      const show = (r) => {
        bar.hidden = r.state !== "running";
        bar.max = r.seconds || 1; bar.value = r.done_s;
        if (r.state === "running") say(status, `cutting… ${fmt(r.done_s, 1)} of ${fmt(r.seconds, 1)} s`);
        else if (r.state === "error") say(status, r.error, true);
        else status.replaceChildren(el("a", { href: r.url, download: r.name, class: "mt-reel-file", text: `Download reel (${fmt(r.seconds, 1)} s)` }));
        return r.state === "running";
      };
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          let r = await postJSON("/mediatag/api/reels", { asset, group: row.dataset.group, tag: row.dataset.tag });
          while (show(r)) {
            await new Promise((ok) => setTimeout(ok, 500));
            r = await getJSON(`/mediatag/api/reels/${r.key}`);
          }
        } catch (e) { say(status, e.message, true); } finally { button.disabled = false; }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = $("#mt-main");
    const page = main && main.dataset.page;
    if (page && pages[page]) pages[page]();
    document.documentElement.dataset.mtReady = "1";
  });
})();
