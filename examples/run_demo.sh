#!/usr/bin/env bash
# Start the demo FHIR API and its browser client under gunicorn on two origins and
# stop both on Ctrl-C, SIGTERM or when either one exits.
#
# Run from anywhere after `pip install -e '.[demo]'`:
#   examples/run_demo.sh
# Environment:
#   API_PORT     port of the FHIR API on 127.0.0.1 (default 8000)
#   CLIENT_PORT  port of the browser client on 127.0.0.1 (default 8001)
#   DEMO_CLIENT_ORIGIN  origin that the API allows
#                       (default http://127.0.0.1:$CLIENT_PORT)
set -euo pipefail

cd "$(dirname -- "$0")/.."

API_PORT="${API_PORT:-8000}"
CLIENT_PORT="${CLIENT_PORT:-8001}"
export DEMO_CLIENT_ORIGIN="${DEMO_CLIENT_ORIGIN:-http://127.0.0.1:${CLIENT_PORT}}"

if ! command -v gunicorn >/dev/null 2>&1; then
    echo "gunicorn not found. Install the demo extra: pip install -e '.[demo]'" >&2
    exit 1
fi

# gunicorn 25.1 and later open an admin control socket at one default path, which
# both servers would share. The flag that turns it off arrived in the same release,
# so it is passed only when `gunicorn --help` lists it.
control_socket_flag=""
if gunicorn --help 2>/dev/null | grep -q -- "--no-control-socket"; then
    control_socket_flag="--no-control-socket"
fi

api_pid=""
client_pid=""

stop_servers() {
    trap - EXIT INT TERM
    for pid in "$api_pid" "$client_pid"; do
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$api_pid" "$client_pid"; do
        if [ -n "$pid" ]; then
            wait "$pid" 2>/dev/null || true
        fi
    done
}

trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One worker process, because the API keeps its Patients in that process's memory.
# Threads let that one process serve several browser connections at once.
gunicorn --bind "127.0.0.1:${API_PORT}" --workers 1 --worker-class gthread \
    --threads 4 --graceful-timeout 5 --access-logfile - $control_socket_flag \
    examples.fhir_server:app &
api_pid=$!

# gthread rather than the sync worker, because a sync worker stays blocked on an
# idle connection that the browser opened in advance until the timeout expires.
gunicorn --bind "127.0.0.1:${CLIENT_PORT}" --workers 1 --worker-class gthread \
    --threads 4 --graceful-timeout 5 --access-logfile - $control_socket_flag \
    examples.client_server:app &
client_pid=$!

# The API is reached as localhost and the page as 127.0.0.1, which are different
# origins, so the browser applies CORS to every API request.
echo "API:    http://localhost:${API_PORT} (allows origin ${DEMO_CLIENT_ORIGIN})"
echo "Open:   http://127.0.0.1:${CLIENT_PORT}/?api=http://localhost:${API_PORT}"
echo "Press Ctrl-C to stop both servers."

# Poll rather than `wait -n`, which macOS's bash 3.2 does not have.
while kill -0 "$api_pid" 2>/dev/null && kill -0 "$client_pid" 2>/dev/null; do
    sleep 1
done
echo "A server exited, so the demo stops the other one." >&2
exit 1
