/* 我的上报: my reports and points, and one case of mine with its photos, its progress and (when it may be) a reopen. */

import { CaseState, GROUPS } from "/static/js/states.js";
import { getJSON, postJSON } from "/static/js/http.js";
import { categoryIcon, categoryName } from "./categories.js";
import { waitingCount } from "./report.js";
import { $, dropNotices, el, failureNotice, failureText, fill, notice, shortTime } from "./ui.js";
import { inLanguage, stateLabel, t } from "./words.js";

let myReports = [], myNext = null, myPoints = null, openCase = null;

export async function loadMine(more) {
  try {
    const url = "/api/v1/me/reports" + (more && myNext ? "?before=" + encodeURIComponent(myNext) : "");
    const page = await getJSON(url);
    myReports = more ? myReports.concat(page.items) : page.items;
    myNext = page.next;
    dropNotices("mine-failed");
    renderMine();
    myPoints = await getJSON("/api/v1/me/points");
    renderPoints();
  } catch (e) {
    failureNotice(e, "mine-failed");
  }
}

/** A state's badge: its colours come from css/states.css by the class state-<name>. */
function badge(state, label) {
  return el("span", { className: "state state-" + state, text: stateLabel(state, label) });
}

export function renderMine() {
  fill("mine-list", myReports.map((r) => {
    // a case joined is someone else's report: shown, marked, not opened (its page is its reporter's)
    const body = [categoryIcon(r.category.code, r.category.name), el("div", { className: "body" }, [
      el("b", { text: categoryName(r.category.code, r.category.name) + " " }, [badge(r.state, r.state_label)]),
      el("span", { className: "meta", text: r.case_no + " · " + shortTime(r.joined ? r.joined_at : r.created_at) + " " },
         r.joined ? [el("span", { className: "state joined", text: t("me_too") })] : [])
    ])];
    return el("li", r.joined ? { className: "joined" } : {},
              r.joined ? body : [el("a", { href: "#case/" + encodeURIComponent(r.case_no) }, body)]);
  }));
  $("mine-empty").hidden = myReports.length > 0 || waitingCount() > 0;
  $("more").hidden = !myNext;
  renderPoints();
}

function renderPoints() {
  $("points-week").textContent = myPoints ? myPoints.week : "–";
  $("points-total").textContent = myPoints ? myPoints.total : "–";
}

export async function loadCase(caseNo) {
  fill("case", [el("p", { className: "hint", text: t("loading") })]);
  try {
    openCase = await getJSON("/api/v1/reports/" + encodeURIComponent(caseNo));
    renderCase();
  } catch (e) {
    fill("case", [el("p", { className: "hint", text: failureText(e) })]);
  }
}

export function renderCase() {
  const c = openCase;
  if (!c) { return; }
  const facts = [["case_no", c.case_no], ["reported_at", shortTime(c.created_at)], ["grid", c.grid ? c.grid.name : t("no_grid")]];
  if (c.deadline_at && GROUPS.worked.includes(c.state)) { facts.push(["deadline", shortTime(c.deadline_at)]); }
  const refusal = c.state === CaseState.REJECTED && c.timeline.filter((e) => e.to === CaseState.REJECTED).pop();
  if (c.description) { facts.push(["description", c.description]); }
  fill("case", [
    el("h1", {}, [document.createTextNode(categoryName(c.category.code, c.category.name) + " "), badge(c.state, c.state_label)]),
    c.duplicate_of ? el("p", { className: "hint", text: t("duplicate_of", { no: c.duplicate_of }) }) : null,
    refusal && refusal.note ? el("p", { className: "verdict", text: t("reason") + refusal.note }) : null,
    el("dl", {}, facts.flatMap((f) => [el("dt", { text: t(f[0]) }), el("dd", { text: f[1] })])),
    casePhotos(c.photos),
    el("h2", { text: t("progress") }),
    el("ol", { className: "timeline" }, c.timeline.slice().reverse().map(timelineEntry)),
    c.can_reopen ? reopenForm(c.case_no) : null
  ].filter(Boolean));
}

function casePhotos(list) {
  const shown = list.filter((p) => p.thumb_url);
  if (!shown.length) { return null; }
  return el("ul", { className: "photos" }, shown.map((p) => {
    const name = t(p.kind === "after" ? "after" : "before");
    return el("li", {}, [el("a", { href: p.web_url || p.thumb_url, target: "_blank", rel: "noopener" }, [
      el("img", { src: p.thumb_url, alt: name, loading: "lazy" }), el("span", { text: name })
    ])]);
  }));
}

function timelineEntry(event) {
  const refused = event.to === CaseState.REJECTED;
  const said = inLanguage(event.text);  // what the service says of it in this language, then what a person typed
  const note = said ? el("span", { className: refused ? "note reason" : "note", text: (refused ? t("reason") : "") + said }) : null;
  const actor = event.actor === "系统" ? t("system") : event.actor;
  return el("li", {}, [el("b", { text: stateLabel(event.to, event.label) }),
                       el("span", { className: "when", text: " · " + shortTime(event.at) + " · " + actor }), note]);
}

function reopenForm(caseNo) {
  const note = el("textarea", { rows: 2, maxlength: 500, "aria-label": t("reopen_note"), placeholder: t("reopen_note") });
  const button = el("button", { type: "button", className: "quiet", text: t("reopen"), onclick: async () => {
    if (!note.value.trim()) { notice(t("need_note"), "warn", { id: "reopen-note" }); return; }
    try {
      openCase = await postJSON("/api/v1/cases/" + encodeURIComponent(caseNo) + "/actions", { action: "reopen", note: note.value.trim() });
      renderCase();
      dropNotices("reopen-note");
      notice(t("reopened", { no: caseNo }), "ok");
    } catch (e) {
      notice(failureText(e), "error");
    }
  } });
  return el("div", { className: "reopen" }, [el("h2", { text: t("reopen") }), note, button]);
}
