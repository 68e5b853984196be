// Renders the leakhound HTML report from the JSON block #data (see src/report/html.rs).
// Every string from the report goes through esc() before it reaches markup. Rows are built as
// one string per page and set with one innerHTML: 20,000 findings render in a fraction of the
// 2 s budget (benches/html.sh measures it).
"use strict";
(function () {
  const started = performance.now();
  const data = JSON.parse(document.getElementById("data").textContent);
  const PAGE = 500;
  const SEVERITIES = ["info", "low", "medium", "high", "critical"];
  const CONFIDENCES = ["low", "medium", "high"];
  // Live secrets first when sorting by verification, then unchecked, then rejected ones.
  const VERIFICATION_RANK = { verified: 3, unverified: 1, invalid: 0 };
  const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
  const short = (digest) => (digest || "").replace(/^sha256:/, "").slice(0, 12);

  const findings = data.findings;
  const groups = data.groups;
  const rules = data.rules;
  const images = data.images;
  const commits = data.commits;
  for (let i = 0; i < findings.length; i++) {
    const f = findings[i];
    f.index = i;
    f.severityRank = SEVERITIES.indexOf(f.severity);
    f.confidenceRank = CONFIDENCES.indexOf(f.confidence);
    f.status = f.verification ? f.verification.status : "";
    f.places = 1 + (f.occurrence_count || 0);
    f.image = f.image === undefined ? null : images[f.image];
    f.commit = f.commit === undefined ? null : commits[f.commit];
  }
  // Harbor projects (images only): a finding lies in the projects of its places.
  const projects = [...new Set(groups.map((g) => g.project).filter(Boolean))].sort();
  const projectOfGroup = groups.map((g) => projects.indexOf(g.project));
  for (const f of findings) {
    f.projects = [...new Set([f.group].concat(f.also || []).map((g) => projectOfGroup[g]))].filter((p) => p >= 0);
  }
  const inGroup = (f, g) => f.group === g || (f.also !== undefined && f.also.includes(g));

  // Counts per group: a finding counts in every group one of its places lies in.
  const groupCounts = groups.map(() => ({ findings: 0, severe: 0, live: 0 }));
  const ruleCounts = rules.map(() => ({ findings: 0, severe: 0, live: 0 }));
  const projectCounts = projects.map(() => ({ findings: 0, severe: 0, live: 0 }));
  const count = (c, f) => {
    c.findings++;
    if (f.severityRank >= 3) c.severe++;
    if (f.status === "verified") c.live++;
  };
  for (const f of findings) {
    count(groupCounts[f.group], f);
    for (const g of f.also || []) count(groupCounts[g], f);
    count(ruleCounts[f.rule], f);
    for (const p of f.projects) count(projectCounts[p], f);
  }

  const state = { text: "", severity: "", status: "", project: -1, group: -1, rule: -1, key: "severity", dir: -1, page: 0 };
  let shown = [];

  const sortKeys = {
    severity: (f) => [f.severityRank, f.confidenceRank, f.status === "verified" ? 1 : 0],
    confidence: (f) => [f.confidenceRank, f.severityRank],
    rule: (f) => [rules[f.rule].id],
    where: (f) => [groups[f.group].project, groups[f.group].repository, f.image ? f.image.ref : ""],
    path: (f) => [f.path, f.line, f.column],
    secret: (f) => [f.secret],
    verification: (f) => [f.verification ? VERIFICATION_RANK[f.status] : -1],
    places: (f) => [f.places],
  };

  function compare(a, b) {
    for (let i = 0; i < a.length; i++) {
      if (a[i] < b[i]) return -1;
      if (a[i] > b[i]) return 1;
    }
    return 0;
  }

  // Lowercased text the filter box searches, built on first use.
  function haystack(f) {
    if (f.hay === undefined) {
      const g = groups[f.group];
      const r = rules[f.rule];
      const parts = [r.id, r.description, f.severity, f.confidence, g.project, g.repository, f.path + ":" + f.line, f.secret, f.fingerprint, f.status];
      if (f.commit) parts.push(f.commit.sha, f.commit.author, f.commit.message);
      if (f.image) parts.push(f.image.ref, f.image.platform, f.image.layer_digest || "config");
      if (f.verification && f.verification.identity) parts.push(f.verification.identity);
      for (const o of f.occurrences || []) parts.push(o.path, o.image || "", o.commit || "");
      f.hay = parts.join("\n").toLowerCase();
    }
    return f.hay;
  }

  function matches(f, words) {
    if (state.severity && f.severity !== state.severity) return false;
    if (state.status && (f.status || "none") !== state.status) return false;
    if (state.project >= 0 && !f.projects.includes(state.project)) return false;
    if (state.group >= 0 && !inGroup(f, state.group)) return false;
    if (state.rule >= 0 && f.rule !== state.rule) return false;
    if (words.length) {
      const hay = haystack(f);
      for (const w of words) if (!hay.includes(w)) return false;
    }
    return true;
  }

  function refilter() {
    const words = state.text.toLowerCase().split(/\s+/).filter(Boolean);
    shown = findings.filter((f) => matches(f, words));
    const key = sortKeys[state.key];
    const keyed = shown.map((f) => [key(f), f]);
    keyed.sort((a, b) => compare(a[0], b[0]) * state.dir || a[1].index - b[1].index);
    shown = keyed.map((k) => k[1]);
    state.page = 0;
    renderRows();
  }

  function badge(kind, value) {
    return '<span class="badge ' + kind + "-" + esc(value) + '">' + esc(value) + "</span>";
  }

  function whereCell(f) {
    const g = groups[f.group];
    let html = g.project ? '<span class="project">' + esc(g.project) + "</span> " : "";
    html += '<span class="repo">' + esc(g.repository) + "</span>";
    if (f.image) {
      const i = f.image;
      const tag = i.ref.slice(g.repository.length);
      const layer = i.layer_digest ? "layer " + i.layer_index + " " + short(i.layer_digest) : "config";
      html += '<div class="sub">' + esc(tag) + " " + esc(i.platform) + " · " + esc(layer);
      if (i.deleted_in_layer) html += " · deleted in " + esc(short(i.deleted_in_layer));
      html += "</div>";
    }
    return html;
  }

  function pathCell(f) {
    let html = '<span class="path">' + esc(f.path) + "</span>:" + f.line + ":" + f.column;
    if (f.commit) {
      const c = f.commit;
      html += '<div class="sub"><code>' + esc(c.sha.slice(0, 12)) + "</code> " + esc(c.message) + " · " + esc(c.author) + " · " + esc(c.date) + "</div>";
    }
    return html;
  }

  function verificationCell(f) {
    const v = f.verification;
    if (!v) return '<span class="none">not checked</span>';
    let html = badge("status", v.status === "verified" ? "verified" : v.status);
    if (v.identity) html += " " + esc(v.identity);
    return html + '<div class="sub">' + esc(v.detail) + "</div>";
  }

  function placesCell(f) {
    if (!f.occurrence_count) return "1";
    let html = "<details><summary>" + f.places + "</summary><ul>";
    for (const o of f.occurrences) {
      html += "<li>" + (o.image ? esc(o.image) + " " : "") + esc(o.path) + ":" + o.line + (o.commit ? " <code>" + esc(o.commit.slice(0, 12)) + "</code>" : "") + "</li>";
    }
    const more = f.occurrence_count - f.occurrences.length;
    if (more > 0) html += "<li>… and " + more + " more (see the JSON report)</li>";
    return html + "</ul></details>";
  }

  function rowHtml(f) {
    const r = rules[f.rule];
    return '<tr class="' + (f.status === "verified" ? "live" : "") + '">' +
      "<td>" + badge("severity", f.severity) + "</td>" +
      "<td>" + esc(f.confidence) + "</td>" +
      '<td><span class="rule" title="' + esc(r.description) + '">' + esc(r.id) + "</span></td>" +
      "<td>" + whereCell(f) + "</td>" +
      "<td>" + pathCell(f) + "</td>" +
      "<td><code class=\"secret\">" + esc(f.secret) + "</code></td>" +
      "<td>" + verificationCell(f) + "</td>" +
      '<td class="num">' + placesCell(f) + "</td></tr>";
  }

  const $ = (id) => document.getElementById(id);

  function renderRows() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const from = state.page * PAGE;
    const slice = shown.slice(from, from + PAGE);
    const parts = new Array(slice.length);
    for (let i = 0; i < slice.length; i++) parts[i] = rowHtml(slice[i]);
    $("rows").innerHTML = parts.join("");
    $("count").textContent = shown.length === findings.length
      ? findings.length + " findings"
      : shown.length + " of " + findings.length + " findings match";
    $("pager").hidden = pages === 1;
    $("page").textContent = "rows " + (shown.length ? from + 1 : 0) + "–" + (from + slice.length) + " of " + shown.length + " (page " + (state.page + 1) + " of " + pages + ")";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("empty").hidden = shown.length > 0;
    for (const th of document.querySelectorAll("#findings th[data-key]")) {
      th.setAttribute("aria-sort", th.dataset.key === state.key ? (state.dir > 0 ? "ascending" : "descending") : "none");
    }
    for (const tr of document.querySelectorAll("#project-groups tbody tr")) tr.classList.toggle("picked", +tr.dataset.project === state.project);
    for (const tr of document.querySelectorAll("#where-groups tbody tr")) tr.classList.toggle("picked", +tr.dataset.group === state.group);
    for (const tr of document.querySelectorAll("#rule-groups tbody tr")) tr.classList.toggle("picked", +tr.dataset.rule === state.rule);
  }

  function groupTable(id, items, counts, label, attr) {
    const order = items.map((_, i) => i).sort((a, b) => counts[b].findings - counts[a].findings || a - b);
    const body = order.map((i) => '<tr tabindex="0" data-' + attr + '="' + i + '">' + label(items[i]) +
      '<td class="num">' + counts[i].findings + '</td><td class="num">' + counts[i].severe +
      '</td><td class="num">' + counts[i].live + "</td></tr>").join("");
    $(id).querySelector("tbody").innerHTML = body;
  }

  function scansHtml() {
    return data.scans.map((s) => {
      const st = s.stats;
      let html = '<li><span class="target">' + esc(s.target) + "</span> " + esc(s.started) + "Z: " +
        st.findings + " findings, " + st.scanned + " blobs scanned, " + st.errors + " errors, " + st.suppressed + " suppressed";
      const list = (items, what) => items.length
        ? "<details><summary>" + items.length + " " + what + "</summary><ul>" +
          items.map((e) => "<li>" + esc(e.origin) + ": " + esc(e.message) + "</li>").join("") + "</ul></details>"
        : "";
      html += list(s.errors, "could not be scanned") + list(s.skipped, "not scanned on purpose");
      return html + "</li>";
    }).join("");
  }

  const anyProject = projects.length > 0;
  $("app").innerHTML =
    "<header><h1>" + esc(data.title) + "</h1>" +
    '<p class="sub">leakhound ' + esc(data.version) + " · " + findings.length + " findings in " + groups.length + " places, " + rules.length + " rules</p>" +
    '<ul id="scans">' + scansHtml() + "</ul></header>" +
    '<section class="groups">' +
    (anyProject ? '<table id="project-groups"><caption>By project</caption><thead><tr><th>Project</th><th class="num">Findings</th><th class="num">High+</th><th class="num">Live</th></tr></thead><tbody></tbody></table>' : "") +
    '<table id="where-groups"><caption>By ' + (anyProject ? "project and repository" : "place") + "</caption><thead><tr>" +
    (anyProject ? "<th>Project</th>" : "") + '<th>Repository / target</th><th class="num">Findings</th><th class="num">High+</th><th class="num">Live</th></tr></thead><tbody></tbody></table>' +
    '<table id="rule-groups"><caption>By rule</caption><thead><tr><th>Rule</th><th class="num">Findings</th><th class="num">High+</th><th class="num">Live</th></tr></thead><tbody></tbody></table></section>' +
    '<section class="controls"><input id="filter" type="search" placeholder="Filter: rule, path, image, commit, secret…" aria-label="Filter findings" autocomplete="off">' +
    '<select id="severity" aria-label="Severity"><option value="">any severity</option>' + SEVERITIES.slice().reverse().map((s) => "<option>" + s + "</option>").join("") + "</select>" +
    '<select id="status" aria-label="Verification"><option value="">any verification</option><option>verified</option><option>unverified</option><option>invalid</option><option value="none">not checked</option></select>' +
    '<button id="clear" type="button">Clear</button> <span id="count"></span></section>' +
    '<table id="findings"><thead><tr>' +
    '<th data-key="severity">Severity</th><th data-key="confidence">Confidence</th><th data-key="rule">Rule</th><th data-key="where">Where</th><th data-key="path">Path</th><th data-key="secret">Secret</th><th data-key="verification">Verification</th><th data-key="places" class="num">Places</th>' +
    '</tr></thead><tbody id="rows"></tbody></table><p id="empty" hidden>No finding matches.</p>' +
    '<nav id="pager"><button id="prev" type="button">‹ Previous</button> <span id="page"></span> <button id="next" type="button">Next ›</button></nav>';

  if (anyProject) groupTable("project-groups", projects, projectCounts, (p) => '<td class="project">' + esc(p) + "</td>", "project");
  groupTable("where-groups", groups, groupCounts, (g) => (anyProject ? "<td>" + esc(g.project) + "</td>" : "") + '<td class="repo">' + esc(g.repository) + "</td>", "group");
  groupTable("rule-groups", rules, ruleCounts, (r) => '<td><span class="rule" title="' + esc(r.description) + '">' + esc(r.id) + "</span></td>", "rule");

  let typing = 0;
  $("filter").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.text = e.target.value; refilter(); }, 60);
  });
  $("severity").addEventListener("change", (e) => { state.severity = e.target.value; refilter(); });
  $("status").addEventListener("change", (e) => { state.status = e.target.value; refilter(); });
  $("clear").addEventListener("click", () => {
    Object.assign(state, { text: "", severity: "", status: "", project: -1, group: -1, rule: -1 });
    $("filter").value = $("severity").value = $("status").value = "";
    refilter();
  });
  // A click (or Enter) on a group row filters to it; again, and the filter is off.
  const pick = (attr) => (e) => {
    const tr = e.target.closest("tr[data-" + attr + "]");
    if (!tr || (e.type === "keydown" && e.key !== "Enter")) return;
    const value = +tr.dataset[attr];
    state[attr] = state[attr] === value ? -1 : value;
    refilter();
  };
  for (const [id, attr] of [["project-groups", "project"], ["where-groups", "group"], ["rule-groups", "rule"]]) {
    if (!$(id)) continue;
    $(id).addEventListener("click", pick(attr));
    $(id).addEventListener("keydown", pick(attr));
  }
  document.querySelector("#findings thead").addEventListener("click", (e) => {
    const th = e.target.closest("th[data-key]");
    if (!th) return;
    const key = th.dataset.key;
    state.dir = state.key === key ? -state.dir : (key === "path" || key === "rule" || key === "where" || key === "secret" ? 1 : -1);
    state.key = key;
    refilter();
  });
  $("prev").addEventListener("click", () => { state.page--; renderRows(); window.scrollTo(0, $("findings").offsetTop); });
  $("next").addEventListener("click", () => { state.page++; renderRows(); window.scrollTo(0, $("findings").offsetTop); });

  refilter();
  // Layout is forced here so the figure includes it (benches/html.sh reads it).
  void document.body.offsetHeight;
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  document.body.dataset.loadedMs = String(Math.round(performance.now()));
})();
