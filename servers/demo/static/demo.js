// transport-bench live demo: one panel per registered target (from /config.json), each driven
// by the browser's own client for its family. Plain JavaScript, no build step, no dependencies.
"use strict";

const MAX_LOG_LINES = 200;
const MAX_LATENCIES = 1000;
const RETRY_DELAY_MS = 1000;
const encoder = new TextEncoder();

const byteLength = (text) => encoder.encode(text).length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSeconds = () => Date.now() / 1000;

// RFC 6455 §5.2: a 2-byte header, 2 or 8 more for payloads over 125 or 65,535 bytes, and a
// 4-byte masking key on frames the client sends.
function frameBytes(payloadBytes, fromClient) {
  const extended = payloadBytes > 65535 ? 8 : payloadBytes > 125 ? 2 : 0;
  return 2 + extended + (fromClient ? 4 : 0) + payloadBytes;
}

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const formatMs = (ms) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : "–");

function formatBytes(bytes) {
  if (bytes < 10_000) return `${bytes} B`;
  if (bytes < 10_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

// One panel: what arrived, with its latency, and the counters of one transport.
class Panel {
  constructor(target, template) {
    this.target = target;
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.target = target.name;
    this.element.dataset.family = target.family;
    this.find(".name").textContent = target.name;
    this.find(".description").textContent = target.description;
    this.find(".resume").textContent = target.supports_resume
      ? "resumes after a reconnect"
      : "no resume: messages sent while disconnected are lost";
    this.counts = {
      messages: 0, published: 0, requests: 0, framesUp: 0, framesDown: 0,
      bytesUp: 0, bytesDown: 0, reconnects: 0, duplicates: 0,
    };
    this.latencies = [];
    this.lastLatencyMs = NaN;
    this.seen = new Set(); // sender + seq: duplicates are detected without trusting the server
    this.setState("connecting");
    this.render();
  }

  find(selector) {
    return this.element.querySelector(selector);
  }

  showFrames(label) {
    this.find(".frames-row").hidden = false;
    this.find(".requests-label").textContent = label;
  }

  setState(state, notice = "") {
    this.element.dataset.state = state;
    this.find(".state").textContent = state;
    this.find(".notice").textContent = notice;
  }

  notice(text) {
    this.find(".notice").textContent = text;
  }

  countRequest(bytesUp) {
    this.counts.requests += 1;
    this.counts.bytesUp += bytesUp;
    this.render();
  }

  countFrameUp(payloadBytes) {
    this.counts.framesUp += 1;
    this.counts.bytesUp += frameBytes(payloadBytes, true);
    this.render();
  }

  countFrameDown(payloadBytes) {
    this.counts.framesDown += 1;
    this.counts.bytesDown += frameBytes(payloadBytes, false);
    this.render();
  }

  countBytesDown(bytes) {
    this.counts.bytesDown += bytes;
    this.render();
  }

  countPublished() {
    this.counts.published += 1; // accepted by the server (201), or handed to an open socket
    this.render();
  }

  countReconnect() {
    this.counts.reconnects += 1;
    this.render();
  }

  deliver(message) {
    const latencyMs = (nowSeconds() - message.sent_at) * 1000;
    const key = `${message.sender}\u0000${message.seq}`;
    const duplicate = this.seen.has(key);
    this.seen.add(key);
    if (duplicate) {
      this.counts.duplicates += 1;
    } else {
      this.counts.messages += 1;
      this.lastLatencyMs = latencyMs;
      this.latencies.push(latencyMs);
      if (this.latencies.length > MAX_LATENCIES) this.latencies.shift();
    }
    this.log(message, latencyMs, duplicate);
    this.render();
  }

  log(message, latencyMs, duplicate) {
    const line = document.createElement("li");
    line.dataset.id = message.id === null ? "" : String(message.id);
    line.dataset.sender = message.sender;
    line.dataset.seq = String(message.seq);
    line.dataset.body = message.body;
    if (duplicate) line.classList.add("duplicate");
    const parts = [
      ["id", message.id === null ? "#–" : `#${message.id}`],
      ["text", null],
      ["latency", formatMs(latencyMs)],
    ];
    for (const [name, text] of parts) {
      const span = document.createElement("span");
      span.className = name;
      if (text === null) {
        const sender = document.createElement("span");
        sender.className = "sender";
        sender.textContent = `${message.sender}: `;
        span.append(sender, message.body); // text nodes: a message is never parsed as HTML
      } else {
        span.textContent = text;
      }
      line.append(span);
    }
    const log = this.find(".log");
    log.append(line);
    while (log.children.length > MAX_LOG_LINES) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  render() {
    const c = this.counts;
    this.find(".messages").textContent = String(c.messages);
    this.find(".latency").textContent =
      `${formatMs(this.lastLatencyMs)} / ${formatMs(median(this.latencies))}`;
    this.find(".requests").textContent = String(c.requests);
    this.find(".frames").textContent = `${c.framesUp} / ${c.framesDown}`;
    this.find(".bytes").textContent = `${formatBytes(c.bytesUp)} / ${formatBytes(c.bytesDown)}`;
    this.find(".reconnects").textContent = String(c.reconnects);
    this.find(".duplicates").textContent = String(c.duplicates);
    Object.assign(this.element.dataset, {
      messages: c.messages, published: c.published, requests: c.requests,
      bytesUp: c.bytesUp, bytesDown: c.bytesDown,
      reconnects: c.reconnects, duplicates: c.duplicates,
    });
  }
}

// What every client shares: its panel, the room, and this page's sender and seq.
class Client {
  constructor(panel, config, sender) {
    this.panel = panel;
    this.target = panel.target;
    this.room = config.room;
    this.config = config;
    this.sender = sender;
    this.seq = 0;
  }

  nextPublish(body) {
    this.seq += 1;
    return { sender: this.sender, seq: this.seq, body, sent_at: nowSeconds() };
  }

  messagesUrl() {
    return `${this.target.http_root}/rooms/${encodeURIComponent(this.room)}/messages`;
  }

  // POST /rooms/{room}/messages: the HTTP targets' publish (a preflighted JSON request).
  async publish(body) {
    const text = JSON.stringify(this.nextPublish(body));
    this.panel.countRequest(byteLength(text));
    const response = await fetch(this.messagesUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: text,
    });
    const answer = await response.text();
    this.panel.countBytesDown(byteLength(answer));
    if (!response.ok) throw new Error(`publish: HTTP ${response.status} ${answer}`);
    this.panel.countPublished();
  }

  // GET /rooms/{room}/messages[?since=ID][&wait=S]: both polling families.
  async poll(cursor, waitSeconds) {
    const url = new URL(this.messagesUrl());
    if (cursor !== null) url.searchParams.set("since", String(cursor));
    if (waitSeconds > 0) url.searchParams.set("wait", String(waitSeconds));
    this.panel.countRequest(0);
    const response = await fetch(url, { cache: "no-store" });
    const text = await response.text();
    this.panel.countBytesDown(byteLength(text));
    if (!response.ok) throw new Error(`poll: HTTP ${response.status} ${text}`);
    const answer = JSON.parse(text);
    for (const message of answer.messages) this.panel.deliver(message);
    return answer.last_id;
  }
}

// Short polling: a fetch loop, answered at once, sleeping the poll interval after each answer.
class ShortPollingClient extends Client {
  async start() {
    let cursor = null; // no cursor: the first answer says where "now" is
    for (;;) {
      try {
        cursor = await this.poll(cursor, 0);
        this.panel.setState("live");
        await sleep(this.config.short_poll_interval_s * 1000);
      } catch (error) {
        this.panel.setState("retrying", String(error));
        await sleep(RETRY_DELAY_MS);
      }
    }
  }
}

// Long polling: the same GET held by the server until news or `wait` seconds, re-issued at once.
class LongPollingClient extends Client {
  async start() {
    let cursor = null;
    for (;;) {
      try {
        const wait = cursor === null ? 0 : this.config.long_poll_wait_s;
        cursor = await this.poll(cursor, wait);
        this.panel.setState("live");
      } catch (error) {
        this.panel.setState("retrying", String(error));
        await sleep(RETRY_DELAY_MS);
      }
    }
  }
}

// SSE: EventSource, whose built-in reconnect sends Last-Event-ID (the last `id:` it saw).
class ServerSentEventsClient extends Client {
  start() {
    const source = new EventSource(
      `${this.target.http_root}/rooms/${encodeURIComponent(this.room)}/events`,
    );
    let opens = 0;
    source.onopen = () => {
      opens += 1;
      this.panel.countRequest(0);
      if (opens > 1) this.panel.countReconnect();
      this.panel.setState("live");
    };
    source.onmessage = (event) => {
      // The event as the server wrote it: `id: N`, `data: JSON`, blank line.
      this.panel.countBytesDown(byteLength(`id: ${event.lastEventId}\ndata: ${event.data}\n\n`));
      this.lastEventId = event.lastEventId;
      this.panel.deliver(JSON.parse(event.data));
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.panel.setState("closed", "EventSource gave up (see the browser console)");
      } else {
        this.panel.setState(
          "reconnecting",
          `stream ended; EventSource reconnects with Last-Event-ID: ${this.lastEventId ?? "(none)"}`,
        );
      }
    };
  }
}

// WebSocket: the API Gateway route protocol both WebSocket targets speak; frames in and out.
class WebSocketClient extends Client {
  constructor(panel, config, sender) {
    super(panel, config, sender);
    this.cursor = null;
    this.outbox = []; // frames typed while (re)connecting, sent once open
    this.opens = 0;
    panel.showFrames("HTTP requests (handshakes)");
  }

  start() {
    const url = new URL(this.target.url);
    url.searchParams.set("room", this.room);
    if (this.target.supports_resume && this.cursor !== null) {
      url.searchParams.set("since", String(this.cursor));
    }
    const socket = new WebSocket(url);
    this.socket = socket;
    this.panel.countRequest(0);
    socket.onopen = () => {
      this.opens += 1;
      if (this.opens > 1) this.panel.countReconnect();
      this.panel.setState("live");
      for (const text of this.outbox.splice(0)) this.send(text);
    };
    socket.onmessage = (event) => {
      this.panel.countFrameDown(byteLength(event.data));
      const data = JSON.parse(event.data);
      if (data.error !== undefined && data.sender === undefined) {
        this.panel.notice(`refused: ${data.error}`); // an API Gateway-style error frame
        return;
      }
      if (data.id !== null) this.cursor = data.id;
      this.panel.deliver(data);
    };
    socket.onclose = (event) => {
      const resume = this.target.supports_resume && this.cursor !== null
        ? `since=${this.cursor}`
        : "from now";
      this.panel.setState(
        "reconnecting",
        `closed ${event.code} ${event.reason}; reconnecting ${resume}`,
      );
      setTimeout(() => this.start(), RETRY_DELAY_MS);
    };
  }

  send(text) {
    this.socket.send(text);
    this.panel.countFrameUp(byteLength(text));
    this.panel.countPublished();
  }

  async publish(body) {
    const frame = { action: "sendMessage", room: this.room, ...this.nextPublish(body) };
    const text = JSON.stringify(frame);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.send(text);
    else this.outbox.push(text); // a closing socket would silently discard it
  }
}

const CLIENTS = {
  "short-polling": ShortPollingClient,
  "long-polling": LongPollingClient,
  sse: ServerSentEventsClient,
  websocket: WebSocketClient,
};

// Response header bytes, where Resource Timing can see them (the targets send
// Timing-Allow-Origin for this page): transferSize is headers + body as received.
function watchHeaderBytes(panels) {
  if (typeof PerformanceObserver === "undefined") return;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const panel = panels.find((p) => entry.name.startsWith(`${p.target.http_root}/`));
      if (panel && entry.transferSize > 0) {
        panel.countBytesDown(Math.max(0, entry.transferSize - entry.encodedBodySize));
      }
    }
    performance.clearResourceTimings(); // a long demo would fill the buffer otherwise
  });
  observer.observe({ type: "resource", buffered: true });
}

function randomSender() {
  const digits = new Uint8Array(3);
  crypto.getRandomValues(digits);
  return `demo-${Array.from(digits, (d) => d.toString(16).padStart(2, "0")).join("")}`;
}

async function dropConnections(panels, status) {
  status.textContent = "dropping every connection…";
  const response = await fetch("/drop", { method: "POST" });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  const summary = [];
  for (const panel of panels) {
    const outcome = answer.results[panel.target.name] ?? { error: "no answer" };
    panel.element.dataset.dropped = outcome.dropped ?? "unsupported";
    summary.push(`${panel.target.name}: ${outcome.dropped ?? outcome.error}`);
  }
  status.textContent = `dropped by the server — ${summary.join(" · ")}`;
  document.body.dataset.dropped = "done";
}

async function main() {
  const status = document.getElementById("status");
  const config = await (await fetch("/config.json", { cache: "no-store" })).json();
  const sender = randomSender();
  document.getElementById("room").textContent = config.room;
  document.getElementById("sender").textContent = sender;

  const template = document.getElementById("panel-template");
  const container = document.getElementById("panels");
  const clients = [];
  for (const target of config.panels) {
    const panel = new Panel(target, template);
    container.append(panel.element);
    const Kind = CLIENTS[target.family];
    if (Kind === undefined) {
      panel.setState("unsupported", `this page has no client for family ${target.family}`);
      continue;
    }
    clients.push(new Kind(panel, config, sender));
  }
  const panels = clients.map((client) => client.panel);
  watchHeaderBytes(panels);
  for (const client of clients) client.start();

  const input = document.getElementById("message");
  document.getElementById("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!body) return;
    input.value = "";
    for (const client of clients) {
      client.publish(body).catch((error) => client.panel.notice(String(error)));
    }
  });

  const drop = document.getElementById("drop");
  drop.hidden = !config.drop_enabled;
  drop.addEventListener("click", () => {
    dropConnections(panels, status).catch((error) => {
      status.textContent = `drop failed: ${error}`;
    });
  });
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  document.getElementById("status").textContent = `demo failed to start: ${error}`;
});
