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
