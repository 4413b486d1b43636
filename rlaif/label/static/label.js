// rlaif label: the page script. Every piece of data is set with textContent, never parsed as HTML.
"use strict";

(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const csrf = meta("rlaif-csrf");
  const fixedName = meta("rlaif-labeller");
  const $ = (id) => document.getElementById(id);
  const STORAGE_KEY = "rlaif-label-name";
  let labeller = fixedName || localStorage.getItem(STORAGE_KEY) || "";
  let current = null;
  let shownAt = 0;
  let busy = false;

  function setText(el, text) {
    if (el) el.textContent = text == null ? "" : String(text);
  }

  function status(text, kind) {
    const el = $("status");
    if (!el) return;
    setText(el, text);
    el.className = "status " + (kind || "");
  }

  async function api(path, body) {
    const options = body === undefined
      ? { credentials: "same-origin" }
      : {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Rlaif-Csrf": csrf },
          body: JSON.stringify(body),
        };
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { error: "the server answered " + response.status };
    }
    if (!response.ok) throw new Error((data && data.error) || "the server answered " + response.status);
    return data;
  }

  function showProgress(progress) {
    if (!progress) return;
    setText(
      $("progress"),
      `${progress.labelled} labelled · ${progress.remaining} to go · ${progress.complete}/${progress.total} items done`
    );
  }

  function render(item) {
    current = item;
    const main = $("labelling");
    if (!item) {
      main.hidden = true;
      main.dataset.item = "";
      $("done").hidden = false;
      return;
    }
    $("done").hidden = true;
    main.hidden = false;
    main.dataset.item = item.id;
    setText($("principle-id"), item.principle);
    setText($("question"), item.question);
    const conversation = $("conversation");
    conversation.replaceChildren();
    for (const message of item.conversation) {
      const box = document.createElement("div");
      box.className = "message role-" + (message.role === "user" ? "user" : "other");
      const role = document.createElement("span");
      role.className = "role";
      setText(role, message.role);
      const text = document.createElement("pre");
      setText(text, message.content);
      box.append(role, text);
      conversation.append(box);
    }
    conversation.scrollTop = conversation.scrollHeight; // the last turns are the ones answered
    setText($("left-text"), item.left);
    setText($("right-text"), item.right);
    $("reason").value = "";
    shownAt = performance.now();
    window.scrollTo(0, 0);
  }

  function reveal(data) {
    const box = $("reveal");
    if (!data) {
      box.hidden = true;
      return;
    }
    const you = data.you === "tie" ? "a tie" : `${data.you} is better`;
    let text = `You said ${you}.`;
    if (data.judge) {
      const judge = data.judge;
      const said = judge.choice === "tie" ? "called it a tie" : `preferred ${judge.choice}`;
      const p = judge.p_left == null ? "" : ` (P(left better) = ${Number(judge.p_left).toFixed(2)})`;
      const agree = judge.agree == null ? "" : judge.agree ? " You agree." : " You disagree.";
      const drop = judge.status === "drop" ? ` The run dropped this pair (${judge.reason}).` : "";
      text += ` The judge (${judge.name}) ${said}${p}.${agree}${drop}`;
    } else {
      text += " No judge verdict for this item.";
    }
    if (data.file) text += ` The file marks ${data.file.choice} as chosen.`;
    setText($("reveal-text"), text);
    box.hidden = false;
  }

  async function next() {
    const data = await api("/api/next?labeller=" + encodeURIComponent(labeller));
    showProgress(data.progress);
    render(data.item);
  }

  async function verdict(choice) {
    if (busy || !current) return;
    busy = true;
    $("labelling").dataset.state = "saving";
    status("saving…", "pending");
    try {
      const data = await api("/api/label", {
        labeller,
        item: current.id,
        choice,
        reason: $("reason").value,
        seconds: (performance.now() - shownAt) / 1000,
        shown_at: current.shown_at,
      });
      const main = $("labelling");
      main.dataset.saved = String(Number(main.dataset.saved || "0") + 1);
      status(choice === "skip" ? "skipped (it comes back at the end)" : "saved ✓", "ok");
      reveal(data.reveal);
      showProgress(data.progress);
      render(data.next);
    } catch (error) {
      status("NOT saved: " + error.message, "error");
    } finally {
      busy = false;
      $("labelling").dataset.state = "idle";
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const data = await api("/api/undo", { labeller });
      status(data.undone ? "undone: label it again" : "nothing to undo", "ok");
      reveal(null);
      showProgress(data.progress);
      render(data.next);
    } catch (error) {
      status("undo failed: " + error.message, "error");
    } finally {
      busy = false;
    }
  }

  function askName() {
    $("name-form").hidden = false;
    $("labelling").hidden = true;
    $("name-input").value = labeller;
    $("name-input").focus();
  }

  async function start() {
    setText($("labeller-name"), labeller);
    $("name-form").hidden = true;
    try {
      await next();
      status("", "");
    } catch (error) {
      status("cannot load: " + error.message, "error");
      if (!fixedName) askName();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const change = $("change-name");
    if (!$("labelling")) {
      // summary and disagreements pages: only the name in the header
      setText($("labeller-name"), labeller || "–");
      if (change) change.hidden = true;
      return;
    }
    if (fixedName && change) change.hidden = true;
    if (change) change.addEventListener("click", askName);
    $("name").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("name-input").value.trim();
      if (!value) return;
      labeller = value;
      localStorage.setItem(STORAGE_KEY, value);
      start();
    });
    for (const button of document.querySelectorAll("button[data-choice]")) {
      button.addEventListener("click", () => verdict(button.dataset.choice));
    }
    $("undo").addEventListener("click", undo);
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const typing = event.target && (event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT");
      if (typing) {
        if (event.key === "Escape") event.target.blur();
        return;
      }
      if ($("labelling").hidden && event.key !== "u") return;
      const keys = { 1: "left", 2: "right", 3: "tie", s: "skip" };
      if (keys[event.key]) {
        event.preventDefault();
        verdict(keys[event.key]);
      } else if (event.key === "u") {
        event.preventDefault();
        undo();
      } else if (event.key === "r") {
        event.preventDefault();
        $("reason").focus();
      }
    });
    if (labeller) start();
    else askName();
  });
})();
