"""The nginx configuration of scaled mode (one file, three doors, all on loopback).

1. **Rasa balancer** (``rasa_lb_port``). Each conversation goes to one Rasa replica by a
   consistent hash of its sender id, because the open-source Redis lock store can race
   when two replicas handle the same conversation (RasaHQ/rasa#9213). nginx cannot hash a
   JSON field directly, but a ``map`` on ``$request_body`` is evaluated after the body is
   read, when the upstream is chosen, so ``"sender": "..."`` of a REST call is the key with
   no change to the clients. A request without a body sender may name it in
   ``X-Tutor-Sender``. socket.io WebSockets carry no body: they hash on ``X-Tutor-Sender`` when the web
   page server sends it, else on a random id; one WebSocket stays on one replica for its
   life, and a reconnect landing elsewhere is safe because the tracker lives in PostgreSQL.
   When a replica is down its conversations move to the other one (``proxy_next_upstream
   error``: the request was never sent, so it is not duplicated). Only the REST webhook,
   the socket.io path and the health check are forwarded; Rasa's HTTP API (not enabled
   anyway) and everything else get 403. **Per-learner rate limit** on the REST webhook:
   ``limit_req`` runs before nginx reads a body, so the balancer reads the body first and
   hands the request, with the sender copied into ``X-Tutor-Sender``, to a second server
   on a Unix socket, where ``limit_req`` is keyed by that header (``rate_per_s`` with a
   ``burst``; HTTP 429 beyond it). The body's sender wins over a client's own header, so a
   client cannot dodge its limit by varying the header. (The Telegram bridge and the web
   page server also limit per chat / per connection before they call Rasa.)
2. **Action-server balancer** (``action_lb_port``). Rasa 3.6 waits up to 300 s for a custom
   action (``DEFAULT_REQUEST_TIMEOUT``, hard-coded in ``RemoteAction``) and then drops the
   turn silently. Here nginx gives up after ``action_timeout_s`` (or at once when no action
   server is reachable) and answers Rasa with a valid action response that utters
   ``utter_service_unavailable`` (also when an action fails with HTTP 500, e.g. while the
   learner database restarts), so the learner gets a short apology within seconds and
   no events are applied (no half-written quiz state in the tracker; the learner store
   writes in one transaction, and a killed action server's transaction rolls back).
   The Bearer token is checked by the action servers themselves (401 passes through).
3. **Public door** (``public_port``): the web page server(s), sticky by the
   ``tutor_session`` cookie, WebSocket upgrade for ``/socket.io/``; and, when Telegram
   bridges run in webhook mode (``telegram_ports``), ``POST /telegram`` to any of them.
   An update may go to either bridge: they share their state (``TELEGRAM_STORE_URL``),
   claim each update once and take turns per chat (:mod:`bot.channels.update_processor`).
   A bridge that is down or answers 5xx is skipped and the POST re-sent to the other one
   (``non_idempotent``: safe, because a second delivery of a claimed update is dropped).
4. **Bridges' proactive endpoint** (``telegram_proactive_lb_port``, loopback): reminders,
   trainer replies and erasure requests reach whichever bridge is up (any of them can
   deliver to any chat); a request is re-sent to the other bridge only if it never reached one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

APOLOGY_RESPONSE = '{"events":[],"responses":[{"response":"utter_service_unavailable"}]}'


@dataclass(frozen=True)
class NginxLayout:
    """Ports and upstreams of the generated configuration.

    Args:
        root: nginx prefix folder (pid, logs, temp files).
        rasa_lb_port / action_lb_port / public_port: the three listening ports (127.0.0.1).
        rasa_ports / action_ports / web_ports: upstream servers on 127.0.0.1.
        action_timeout_s: longest wait for an action server before apologising.
        rasa_timeout_s: longest wait for a Rasa turn.
        rate_per_s / burst: per-learner REST rate limit.
        public_host: address of the public door (127.0.0.1 here; 0.0.0.0 behind a firewall).
        internal_host: address of the Rasa and action balancers (loopback here).
        Upstreams given as ``"host:port"`` strings instead of ports name other machines.
    """

    root: Path
    rasa_lb_port: int
    action_lb_port: int
    public_port: int
    rasa_ports: tuple[int | str, ...]
    action_ports: tuple[int | str, ...]
    web_ports: tuple[int | str, ...]
    action_timeout_s: int = 5
    rasa_timeout_s: int = 30
    rate_per_s: int = 5
    burst: int = 20
    public_host: str = "127.0.0.1"
    internal_host: str = "127.0.0.1"  # the two balancers; "0.0.0.0" only inside a private network (deploy/)
    log_sender: bool = False  # tests only: add the routing key (a pseudonymous sender id) to the access log
    telegram_ports: tuple[int | str, ...] = ()  # Telegram bridges in webhook mode (none: no /telegram)
    # The bridges' proactive endpoints (bot.channels.proactive) behind one loopback port.
    telegram_proactive_lb_port: int = 0
    telegram_proactive_ports: tuple[int | str, ...] = ()


def _servers(ports: tuple[int | str, ...], extra: str = "") -> str:
    # A port is a server on 127.0.0.1; a "host:port" string names another machine (deploy/).
    return "\n".join(f"    server {p if isinstance(p, str) else f'127.0.0.1:{p}'}{extra};" for p in ports)


def render(layout: NginxLayout) -> str:
    """Return the nginx.conf text for ``layout``.

    Args:
        layout: Ports and timeouts.

    Returns:
        A complete configuration for ``nginx -p <root> -c <root>/nginx.conf``.
    """
    r = layout.root
    fail = " max_fails=1 fail_timeout=10s"
    return f"""# Generated by bot/scaled/nginx.py - do not edit; see that module's docstring.
worker_processes 1;
pid {r}/nginx.pid;
error_log {r}/error.log warn;
events {{ worker_connections 2048; }}
http {{
  log_format tutor '$time_iso8601 "$server_port" $status $request_time $upstream_addr $upstream_status '
                   '"$request_method $uri"{' $tutor_key' if layout.log_sender else ''}';
  access_log {r}/access.log tutor;
  client_body_temp_path {r}/body;
  proxy_temp_path {r}/proxy;
  fastcgi_temp_path {r}/fastcgi;
  uwsgi_temp_path {r}/uwsgi;
  scgi_temp_path {r}/scgi;
  server_tokens off;
  # Bodies stay in one memory buffer so $request_body (and the sender in it) is readable.
  client_body_buffer_size 64k;
  client_body_in_single_buffer on;
  client_max_body_size 64k;

  map $request_body $tutor_body_sender {{
    "~\\"sender\\"\\s*:\\s*\\"(?<sender>[^\\"]{{1,256}})\\"" $sender;
    default "";
  }}
  # REST: the body's sender; requests without one (health checks) may name it in a header.
  map $tutor_body_sender $tutor_key {{
    "" $http_x_tutor_sender;
    default $tutor_body_sender;
  }}
  map $http_x_tutor_sender $tutor_ws_key {{
    "" $request_id;
    default $http_x_tutor_sender;
  }}
  map $http_upgrade $connection_upgrade {{
    default upgrade;
    "" close;
  }}
  limit_req_zone $http_x_tutor_sender zone=per_learner:10m rate={layout.rate_per_s}r/s;
  limit_req_status 429;

  upstream rasa {{
    hash $tutor_key consistent;
{_servers(layout.rasa_ports, fail)}
  }}
  upstream rasa_ws {{
    hash $tutor_ws_key consistent;
{_servers(layout.rasa_ports, fail)}
  }}
  upstream actions {{
{_servers(layout.action_ports, fail)}
  }}
  upstream web {{
    hash $cookie_tutor_session consistent;
{_servers(layout.web_ports, fail)}
  }}

  # 1. Rasa balancer (loopback only).
  server {{
    listen {layout.internal_host}:{layout.rasa_lb_port};
    proxy_connect_timeout 2s;
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 2;
    location = /webhooks/rest/webhook {{
      # Read the body, copy its sender into a header, let the rate-limit hop below decide.
      proxy_set_header X-Tutor-Sender $tutor_key;
      proxy_read_timeout {layout.rasa_timeout_s + 5}s;
      proxy_pass http://unix:{r}/rest-limit.sock;
    }}
    location /socket.io/ {{
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      proxy_pass http://rasa_ws;
    }}
    location = / {{ proxy_pass http://rasa; }}
    location / {{ return 403; }}
  }}

  # 1b. Per-learner rate limit of the REST webhook (reached only from the balancer above).
  server {{
    listen unix:{r}/rest-limit.sock;
    proxy_connect_timeout 2s;
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 2;
    location = /webhooks/rest/webhook {{
      limit_req zone=per_learner burst={layout.burst} nodelay;
      proxy_read_timeout {layout.rasa_timeout_s}s;
      proxy_pass http://rasa;
    }}
    location / {{ return 403; }}
  }}

  # 2. Action-server balancer: our own timeout, apology instead of silence.
  server {{
    listen {layout.internal_host}:{layout.action_lb_port};
    location = /webhook {{
      # Rasa posts the whole domain (every response in every interface language, 136 KB with
      # seven) and the conversation with each action call: the 64k cap of learners' requests
      # would turn every action into a 413. Only Rasa reaches this port.
      client_max_body_size 16m;
      client_body_buffer_size 1m;
      proxy_connect_timeout 1s;
      proxy_send_timeout {layout.action_timeout_s}s;
      proxy_read_timeout {layout.action_timeout_s}s;
      # A replica that timed out is skipped for fail_timeout (a hung server costs one wait, not
      # one per action of the turn); the timed-out POST itself is not re-sent (non-idempotent).
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
      proxy_pass http://actions;
      # 500: an action crashed (e.g. the learner database is down); its events were not applied.
      # 401 and rasa_sdk's 400/404 pass through unchanged.
      proxy_intercept_errors on;
      error_page 500 502 503 504 = @apology;
    }}
    location @apology {{
      default_type application/json;
      return 200 '{APOLOGY_RESPONSE}';
    }}
    location = /health {{ proxy_pass http://actions; }}
    location / {{ return 403; }}
  }}

{_telegram_upstream(layout)}{_proactive_balancer(layout)}  # 3. Public door: the web page server(s), sticky by session cookie.
  server {{
    listen {layout.public_host}:{layout.public_port};
{_telegram_location(layout)}    location /socket.io/ {{
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 3600s;
      proxy_pass http://web;
    }}
    location / {{
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://web;
    }}
  }}
}}
"""


def _telegram_upstream(layout: NginxLayout) -> str:
    if not layout.telegram_ports:
        return ""
    return f"""  upstream telegram {{
{_servers(layout.telegram_ports, " max_fails=1 fail_timeout=10s")}
  }}

"""


def _proactive_balancer(layout: NginxLayout) -> str:
    if not layout.telegram_proactive_ports:
        return ""
    # Any bridge delivers to any chat (their state is shared). A POST that timed out may have
    # been delivered, so only one never sent (connection refused) goes to the other bridge.
    return f"""  upstream telegram_proactive {{
{_servers(layout.telegram_proactive_ports, " max_fails=1 fail_timeout=10s")}
  }}
  # 4. The bridges' proactive endpoint (reminders, trainer replies, erasure), loopback only.
  server {{
    listen 127.0.0.1:{layout.telegram_proactive_lb_port};
    proxy_connect_timeout 2s;
    proxy_read_timeout 30s;
    proxy_next_upstream error;
    proxy_next_upstream_tries 2;
    location = /proactive {{ proxy_pass http://telegram_proactive; }}
    location = /forget {{ proxy_pass http://telegram_proactive; }}
    location / {{ return 403; }}
  }}

"""


def _telegram_location(layout: NginxLayout) -> str:
    if not layout.telegram_ports:
        return ""
    # Telegram sends a chat's next update only after this one is answered; a bridge answers
    # once the update is claimed in the shared store, so a retry elsewhere is harmless.
    return """    location = /telegram {
      limit_except POST { deny all; }
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
      proxy_next_upstream error timeout http_500 http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 2;
      proxy_pass http://telegram;
    }
"""


def compose_layout(telegram: bool = False) -> NginxLayout:
    """The layout of ``deploy/docker-compose.yml`` (service names as upstream hosts).

    Args:
        telegram: also forward ``/telegram`` to the bridges of the ``telegram`` profile
            (nginx refuses to start while an upstream's name does not resolve).
    """
    return NginxLayout(Path("/tmp"), 5005, 5055, 8080, ("rasa-1:5005", "rasa-2:5005"),
                       ("actions-1:5055", "actions-2:5055"), ("web:8180",), public_host="0.0.0.0",
                       internal_host="0.0.0.0",
                       telegram_ports=("telegram-1:8443", "telegram-2:8443") if telegram else ())


def kubernetes_layout(telegram: bool = False) -> NginxLayout:
    """The layout of ``deploy/kubernetes/tutor.yaml``: headless Services, which nginx resolves to
    every pod when it starts (reload the ``tutor-lb`` pods after scaling Rasa or the actions).

    Args:
        telegram: also forward ``/telegram`` to the bridges of ``deploy/kubernetes/telegram.yaml``.
    """
    return NginxLayout(Path("/tmp"), 5005, 5055, 8080, ("rasa:5005",), ("actions:5055",), ("web:8180",),
                       public_host="0.0.0.0", internal_host="0.0.0.0",
                       telegram_ports=("telegram:8443",) if telegram else ())


if __name__ == "__main__":  # python -m bot.scaled.nginx [--kubernetes] [--telegram] > deploy/nginx.conf
    import sys

    with_telegram = "--telegram" in sys.argv[1:]
    layout = kubernetes_layout(with_telegram) if "--kubernetes" in sys.argv[1:] else compose_layout(with_telegram)
    print(render(layout), end="")
