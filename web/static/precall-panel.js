// The pre-join screen's "Test my connection": runs precall.js and shows
// one row per check, pass or fail in words, with what to do on failure.
// The rows are also in window.switchboard.precall, for tests.

import { runPrecall, ROWS } from "./precall.js";

const WORDS = { running: "Testing…", pass: "Pass", fail: "Fail", skip: "Not offered", untested: "Not tested" };

export class PrecallPanel {
  /**
   * @param {object} ui  button, summary (a live status line), list (an ol)
   * @param {object} o   url (signaling URL), transports (forced channel or null), state (window.switchboard)
   */
  constructor(ui, { url, transports, state }) {
    this.ui = ui;
    this.url = url;
    this.transports = transports;
    this.state = state;
    state.precall = { running: false, done: false, rows: {} };
    ui.button.addEventListener("click", () => this.run());
  }

  async run() {
    const { ui, state } = this;
    if (state.precall.running) return;
    state.precall = { running: true, done: false, rows: {} };
    // aria-disabled, not disabled: the button keeps the keyboard focus.
    ui.button.setAttribute("aria-disabled", "true");
    ui.button.textContent = "Testing…";
    ui.list.replaceChildren(...ROWS.map(([id, name]) => rowElement(id, name)));
    ui.list.hidden = false;
    ui.list.setAttribute("aria-busy", "true");
    ui.summary.textContent = "Testing your connection; this takes about 20 seconds.";
    try {
      await runPrecall({ url: this.url, transports: this.transports, report: (r) => this.show(r) });
    } catch (err) {
      ui.summary.textContent = "The test stopped: " + (err.message || err);
    }
    const rows = Object.values(state.precall.rows);
    const failed = rows.filter((r) => r.status === "fail").length;
    if (rows.length === ROWS.length) {
      ui.summary.textContent = failed === 0 ? "No test failed: you are ready to call." : `${failed} of ${ROWS.length} tests failed: see the hints below.`;
    }
    state.precall.running = false;
    state.precall.done = true;
    ui.list.removeAttribute("aria-busy");
    ui.button.removeAttribute("aria-disabled");
    ui.button.textContent = "Test again";
  }

  show(r) {
    if (r.status !== "running") this.state.precall.rows[r.id] = { status: r.status, detail: r.detail, hint: r.hint, channel: r.channel };
    const li = this.ui.list.querySelector(`[data-check="${r.id}"]`);
    if (!li) return;
    li.dataset.status = r.status;
    li.querySelector(".precall-status").textContent = WORDS[r.status];
    li.querySelector(".precall-detail").textContent = r.detail || "";
    const hint = li.querySelector(".precall-hint");
    hint.textContent = r.hint || "";
    hint.hidden = !r.hint;
  }
}

function rowElement(id, name) {
  const li = document.createElement("li");
  li.className = "precall-row";
  li.dataset.check = id;
  li.dataset.status = "waiting";
  const head = document.createElement("p");
  head.className = "precall-head";
  const label = document.createElement("span");
  label.className = "precall-name";
  label.textContent = name + ": ";
  const status = document.createElement("span");
  status.className = "precall-status";
  status.textContent = "Waiting";
  head.append(label, status);
  const detail = document.createElement("p");
  detail.className = "precall-detail";
  const hint = document.createElement("p");
  hint.className = "precall-hint";
  hint.hidden = true;
  li.append(head, detail, hint);
  return li;
}
