# Helpers shared by the bench scripts (sourced, not run).

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Median of the arguments (the lower middle one for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wrk latencies ("850.00us", "2.10ms", "1.2s") in milliseconds, one per argument.
to_ms() { for v in "$@"; do case $v in *ms) echo "${v%ms}" ;; *us) awk "BEGIN{print ${v%us}/1000}" ;; *s) awk "BEGIN{print ${v%s}*1000}" ;; esac; done; }
new_asset_id() { echo "ast_$(/usr/bin/python3 -c 'import random; print("".join(random.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(26)))')"; }
new_secret() { head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c 40; }
# A v2 playback token (with a session id, as the player bootstrap mints them), key id "dev".
sign_token() {  # secret asset_id
  /usr/bin/python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, sys, time
secret, asset = sys.argv[1], sys.argv[2]
msg = "v2.dev.%d.%s.benchsession" % (int(time.time()) + 86400, asset)
print(msg + "." + base64.urlsafe_b64encode(hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()).rstrip(b"=").decode())
PY
}

# nginx at its best for static files, the anchor of the edge and bootstrap benches
# (../shared/design/anchors.md and nginx's docs): sendfile with tcp_nopush (head and
# first body bytes in one packet), tcp_nodelay, connections kept for the whole run,
# open file descriptors cached, no access log, 2 workers (the 2 I/O threads of Rend's
# server). Writes the config; the caller starts nginx with it.
#   write_tuned_nginx_conf CONF PID_FILE TMP_DIR PORT "TYPES" "LOCATION BLOCK"
write_tuned_nginx_conf() {
  cat >"$1" <<EOF
worker_processes 2;
pid $2;
error_log $3/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;
  client_body_temp_path $3; proxy_temp_path $3; fastcgi_temp_path $3;
  uwsgi_temp_path $3; scgi_temp_path $3;
  types { $5 }
  server {
    listen 127.0.0.1:$4;
    $6
  }
}
EOF
}
