// The sandbox's agent console. State comes from /console/events (server-sent events: a
// snapshot, then every change); actions are JSON posts to /console/api/conversations/{id}/...
"use strict";

const state = {
  agentId: null,
  conversations: new Map(), // id -> conversation view with its events
  selected: null,
  readSent: new Map(), // id -> Set of consumer sequences this console already marked READ
  ttrEdited: false, // the person is changing the TTR fields: renders leave them alone
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function clock(ts) {
  return ts ? new Date(ts).toLocaleTimeString([], { hour12: false }) : "";
}

function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

// -- live feed ----------------------------------------------------------------------------

function connect() {
  const source = new EventSource("/console/events");
  const setConnection = (s, text) => {
    $("connection").dataset.state = s;
    $("connection").textContent = text;
  };
  source.onopen = () => setConnection("live", "live");
  source.onerror = () => setConnection("lost", "reconnecting…");
  source.addEventListener("snapshot", (msg) => {
    const data = JSON.parse(msg.data);
    state.agentId = data.agent.agentId;
    $("agent-name").textContent = data.agent.nickname;
    state.conversations = new Map(
      data.conversations.map((c) => [c.conversationId, c])
    );
    setConnection("live", "live");
    render();
  });
  source.addEventListener("conversation", (msg) => {
    const view = JSON.parse(msg.data);
    const known = state.conversations.get(view.conversationId);
    view.events = known ? known.events : [];
    state.conversations.set(view.conversationId, view);
    if (view.kind === "created") ring();
    render();
  });
  source.addEventListener("event", (msg) => {
    const change = JSON.parse(msg.data);
    const conversation = state.conversations.get(change.conversationId);
    if (!conversation) return; // its "created" change comes first; a snapshot covers races
    conversation.events.push(change);
    render();
  });
}

function ring() {
  // browsers allow sound only after the person has interacted with the page
  if (navigator.userActivation && !navigator.userActivation.hasBeenActive) return;
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
    tone.onended = () => audio.close();
  } catch (err) {
    // no sound here: the list still rings
  }
}

// -- actions ------------------------------------------------------------------------------

async function act(action, body) {
  const id = state.selected;
  if (!id) return null;
  const response = await fetch(
    `/console/api/conversations/${encodeURIComponent(id)}/${action}`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    }
  );
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    notice(payload.error || `${action} failed (${response.status})`);
    return null;
  }
  notice(null);
  return payload;
}

function notice(text) {
  $("notice").hidden = !text;
  $("notice").textContent = text || "";
}

let typingTimer = null;
let typingSent = false;

function typing(composing) {
  const conversation = state.conversations.get(state.selected);
  if (!conversation || !conversation.mine || conversation.state !== "OPEN") return;
  clearTimeout(typingTimer);
  if (composing) {
    typingTimer = setTimeout(() => typing(false), 3000);
    if (typingSent) return;
  } else if (!typingSent) {
    return;
  }
  typingSent = composing;
  act("typing", { chatState: composing ? "COMPOSING" : "ACTIVE" });
}

function splitTitles(text) {
  return text.split("|").map((t) => t.trim()).filter((t) => t);
}

async function send() {
  const box = $("message");
  const replies = $("quick-replies");
  const text = box.value;
  if (!text.trim()) return;
  const quickReplies = splitTitles(replies.value);
  box.value = "";
  replies.value = "";
  const done = await act("messages", quickReplies.length ? { text, quickReplies } : { text });
  if (done === null) {
    box.value = text;
    replies.value = quickReplies.join(" | ");
  }
  typing(false);
}

async function sendCard() {
  const fields = ["card-title", "card-text", "card-image", "card-buttons"];
  const [title, text, image, buttons] = fields.map((id) => $(id).value);
  const done = await act("card", { title, text, image, buttons: splitTitles(buttons) });
  if (done !== null) for (const id of fields) $(id).value = "";
}

function bindActions() {
  $("accept").addEventListener("click", () => act("accept"));
  $("close").addEventListener("click", () => act("close"));
  for (const id of ["ttr-type", "ttr-value"]) {
    $(id).addEventListener("input", () => { state.ttrEdited = true; });
  }
  $("ttr-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.ttrEdited = false;
    act("ttr", {
      ttrType: $("ttr-type").value,
      value: parseInt($("ttr-value").value, 10) || 0,
    });
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send();
  });
  $("card-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendCard();
  });
  $("message").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      send();
    }
  });
  $("message").addEventListener("input", () => typing(true));
  $("message").addEventListener("blur", () => typing(false));
  document.addEventListener("visibilitychange", () => render());
}

// -- derived state ------------------------------------------------------------------------

function isContent(change) {
  const type = change.event.type;
  return type === "ContentEvent" || type === "RichContentEvent";
}

// Structured content as a consumer's window draws it (protocol.md §5.8.3): containers,
// text, images, buttons; anything else as its JSON. Buttons are shown, not pressed: this is
// the agent's side.
function richElement(element, depth) {
  if (!element || typeof element !== "object" || depth > 8) return null;
  const children = Array.isArray(element.elements) ? element.elements : [];
  switch (element.type) {
    case "vertical":
    case "horizontal":
    case "carousel":
      return el("div", { class: `sc-${element.type}`, "data-sc": element.type },
        ...children.map((child) => richElement(child, depth + 1)));
    case "text": {
      const style = element.style || {};
      return el("div", { class: `sc-text${style.bold ? " sc-bold" : ""}`, "data-sc": "text" },
        String(element.text || ""));
    }
    case "image":
      return /^https?:\/\//.test(String(element.url || ""))
        ? el("img", { class: "sc-image", src: element.url, alt: element.caption || element.tooltip || "image", "data-sc": "image" })
        : el("div", { class: "sc-text" }, "[image]");
    case "button":
      return el("span", { class: "sc-button", "data-sc": "button", title: element.tooltip || "" },
        String(element.title || ""));
    default:
      return el("pre", {}, JSON.stringify(element, null, 1));
  }
}

function quickReplies(event) {
  const replies = event.quickReplies && Array.isArray(event.quickReplies.replies)
    ? event.quickReplies.replies : [];
  return el("div", { class: "quick-replies" },
    ...replies.map((reply) => el("span", { class: "quick-reply", "data-sc": "quick-reply" },
      String(reply.title || ""))));
}

function describe(event) {
  if (event.type === "RichContentEvent") {
    return el("div", { class: "sc" }, richElement(event.content || event.message, 0));
  }
  if (event.contentType === "text/plain" || typeof event.message === "string") {
    if (event.quickReplies) return el("div", {}, event.message, quickReplies(event));
    return event.message;
  }
  if (event.message && event.message.relativePath) {
    return `[file ${event.message.fileType || ""}] ${event.message.caption || event.message.relativePath}`;
  }
  return el("pre", {}, JSON.stringify(event.message, null, 1));
}

function lastText(conversation) {
  for (let i = conversation.events.length - 1; i >= 0; i -= 1) {
    const change = conversation.events[i];
    if (isContent(change)) {
      const text = change.event.message;
      return typeof text === "string" ? text : "[rich content]";
    }
  }
  return "";
}

function receipts(conversation) {
  // (dialog, sequence) of a message -> strongest status the other side sent for it
  const rank = { ACCEPT: 1, READ: 2, ACTION: 3 };
  const out = new Map();
  for (const change of conversation.events) {
    const event = change.event;
    if (event.type !== "AcceptStatusEvent") continue;
    for (const seq of event.sequenceList || []) {
      const key = `${change.dialogId}/${seq}/${change.role === "CONSUMER" ? "c" : "a"}`;
      const before = out.get(key);
      if (!before || (rank[event.status] || 0) > (rank[before] || 0)) out.set(key, event.status);
    }
  }
  return out;
}

function consumerTyping(conversation) {
  let composing = false;
  for (const change of conversation.events) {
    if (change.event.type === "ChatStateEvent" && change.role === "CONSUMER") {
      composing = change.event.chatState === "COMPOSING";
    }
    if (isContent(change) && change.role === "CONSUMER") composing = false;
  }
  return composing && conversation.state === "OPEN";
}

function bucket(conversation) {
  if (conversation.state !== "OPEN") return "closed";
  if (conversation.mine) return "mine";
  if (!conversation.agentId) return "waiting";
  return "others";
}

// -- rendering ----------------------------------------------------------------------------

let scheduled = false;

function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    renderList();
    renderPane();
    markRead();
  });
}

function renderList() {
  const lists = { waiting: [], mine: [], others: [], closed: [] };
  const ordered = [...state.conversations.values()].sort((a, b) => b.startTs - a.startTs);
  for (const conversation of ordered) {
    const kind = bucket(conversation);
    const item = el(
      "li",
      {
        class: [
          kind === "waiting" ? "ringing" : "",
          conversation.conversationId === state.selected ? "selected" : "",
        ].join(" "),
        "data-conversation-id": conversation.conversationId,
        "data-bucket": kind,
        onclick: () => {
          state.selected = conversation.conversationId;
          state.ttrEdited = false;
          notice(null);
          render();
        },
      },
      el("span", { class: "who" }, `Consumer ${shortId(conversation.consumerId)}`),
      el("span", { class: "when" }, clock(conversation.startTs)),
      el("span", { class: "preview" }, lastText(conversation) || "(no messages yet)")
    );
    lists[kind].push(item);
  }
  for (const [kind, items] of Object.entries(lists)) {
    $(`list-${kind}`).replaceChildren(...items);
    $(`count-${kind}`).textContent = items.length;
  }
  const waiting = lists.waiting.length;
  document.title = (waiting ? `(${waiting}) ` : "") + "Agent console · lpbot sandbox";
}

function renderPane() {
  const conversation = state.conversations.get(state.selected);
  $("empty").hidden = !!conversation;
  $("conversation").hidden = !conversation;
  if (!conversation) return;
  const open = conversation.state === "OPEN";
  const kind = bucket(conversation);

  $("conv-consumer").textContent = `Consumer ${shortId(conversation.consumerId)}`;
  $("conv-id").textContent = conversation.conversationId;
  const badge = $("conv-state");
  badge.textContent = kind === "waiting" ? "WAITING" : conversation.state;
  badge.className = `badge ${kind === "waiting" ? "waiting" : open ? "open" : "closed"}`;
  $("conv-agent").textContent = conversation.agentId
    ? `Agent: ${conversation.mine ? "you" : conversation.agentName || shortId(conversation.agentId)}`
    : "No agent yet";
  $("conv-ttr").textContent = `TTR ${conversation.ttr.ttrType} (${conversation.ttr.value} s)`;

  $("accept").hidden = !open || conversation.mine;
  $("accept").textContent = conversation.agentId ? "Take over" : "Accept";
  $("close").disabled = !open || !conversation.mine;
  $("close").hidden = !open;
  $("ttr-form").hidden = !open;
  for (const id of ["ttr-type", "ttr-value"]) $(id).disabled = !open || !conversation.mine;
  $("ttr-form").querySelector("button").disabled = !open || !conversation.mine;
  if (!state.ttrEdited) {
    $("ttr-type").value = conversation.ttr.ttrType;
    $("ttr-value").value = conversation.ttr.value;
  }
  $("message").disabled = !open || !conversation.mine;
  $("send").disabled = !open || !conversation.mine;
  $("quick-replies").disabled = !open || !conversation.mine;
  $("send-card").disabled = !open || !conversation.mine;
  $("message").placeholder = !open
    ? "The conversation is closed"
    : conversation.mine
      ? "Type a message and press Enter"
      : "Accept the conversation to reply";

  renderTranscript(conversation);
  $("typing").hidden = !consumerTyping(conversation);
  renderCsat(conversation);
}

function renderTranscript(conversation) {
  const transcript = $("transcript");
  const nearBottom =
    transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  const statuses = receipts(conversation);
  const items = [];
  const dialogTypes = new Map(conversation.dialogs.map((d) => [d.dialogId, d.dialogType]));
  let lastDialog = conversation.conversationId;
  for (const change of conversation.events) {
    if (!isContent(change)) continue;
    if (change.dialogId !== lastDialog) {
      lastDialog = change.dialogId;
      items.push(el("li", { class: "system" }, `— ${dialogTypes.get(change.dialogId) || "dialog"} —`));
    }
    const fromConsumer = change.role === "CONSUMER";
    const classes = ["message", fromConsumer ? "consumer" : "agent"];
    if (!fromConsumer && change.originatorId !== state.agentId) classes.push("simulated");
    let receipt = null;
    if (!fromConsumer) {
      const status = statuses.get(`${change.dialogId}/${change.sequence}/c`);
      receipt = el(
        "span",
        { class: `receipt ${status === "READ" ? "read" : ""}`, "data-receipt": status || "SENT" },
        status === "READ" ? "✓✓ Read" : status === "ACCEPT" ? "✓✓ Delivered" : "✓ Sent"
      );
    }
    const who = fromConsumer
      ? "Consumer"
      : change.originatorId === state.agentId
        ? "You"
        : nameOf(conversation, change.originatorId);
    items.push(
      el(
        "li",
        { class: classes.join(" "), "data-role": change.role, "data-sequence": change.sequence },
        el("div", { class: "bubble" }, describe(change.event)),
        el("div", { class: "stamp" }, `${who} · ${clock(change.serverTimestamp)} `, receipt)
      )
    );
  }
  if (conversation.state !== "OPEN") {
    const by = conversation.closeReason === "CONSUMER" ? "the consumer" : "the agent";
    items.push(el("li", { class: "system", "data-closed": "true" }, `Conversation closed by ${by} · ${clock(conversation.endTs)}`));
  }
  transcript.replaceChildren(...items);
  if (nearBottom) transcript.scrollTop = transcript.scrollHeight;
}

function nameOf(conversation, id) {
  const participant = conversation.participants.find((p) => p.id === id);
  return (participant && participant.name) || (conversation.agentId === id && conversation.agentName) || "Agent";
}

function renderCsat(conversation) {
  const box = $("csat");
  const csat = conversation.csat;
  if (conversation.state === "OPEN") {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  if (!csat) {
    box.replaceChildren("No CSAT from the consumer yet.");
    return;
  }
  const rate = csat.csatRate || 0;
  const resolved = csat.csatResolutionConfirmation;
  box.replaceChildren(
    el("strong", {}, "CSAT "),
    el("span", { class: "stars", "data-rate": rate }, "★".repeat(rate) + "☆".repeat(5 - rate)),
    ` ${rate}/5`,
    resolved === true ? " · resolved" : resolved === false ? " · not resolved" : "",
    csat.status ? ` · ${csat.status}` : ""
  );
}

function markRead() {
  // the person has the conversation on screen: READ receipts for the consumer's messages
  const conversation = state.conversations.get(state.selected);
  if (!conversation || !conversation.mine || conversation.state !== "OPEN") return;
  if (document.visibilityState !== "visible") return;
  const sent = state.readSent.get(conversation.conversationId) || new Set();
  state.readSent.set(conversation.conversationId, sent);
  const statuses = receipts(conversation);
  const unread = conversation.events
    .filter((c) => isContent(c) && c.role === "CONSUMER" && c.dialogId === conversation.conversationId)
    .map((c) => c.sequence)
    .filter((seq) => !sent.has(seq) && statuses.get(`${conversation.conversationId}/${seq}/a`) !== "READ");
  if (!unread.length) return;
  unread.forEach((seq) => sent.add(seq));
  act("read", { sequences: unread });
}

bindActions();
connect();
