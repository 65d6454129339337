# Shared by the optional environments' build scripts (face.sh, whisperx.sh); sourced, not run.
# The sourcing script sets VENV (the folder), WHAT (whose environment, for messages) and INPUTS
# (files whose change means a rebuild), then calls `begin` and its steps, and `finish`.
#
# On success: $VENV/.ready. On any failure: the one-line reason in $VENV/.failed and exit status
# 0, so `make test` goes on and the environment's tests are skipped naming that reason.
set -uo pipefail
PYTHON=${PYTHON:-python3.11}
LOG=$VENV/build.log

up_to_date() {
    [ -f "$VENV/.ready" ] || return 1
    local input
    for input in "${INPUTS[@]}"; do
        [ "$VENV/.ready" -nt "$input" ] || return 1
    done
}

fail() {  # the one-line reason, for the tests to name when they skip
    mkdir -p "$VENV"
    rm -f "$VENV/.ready"
    printf '%s\n' "$1" | head -n 1 > "$VENV/.failed"
    echo "scripts/envs: $1 (the $WHAT tests will be skipped; log: $LOG)" >&2
    exit 0
}

last_error() {  # the last error line (pip's, a Python exception's), else the log's last line
    { grep -E '^(ERROR|error|[A-Za-z.]*(Error|Exception)):' "$LOG" || grep -v '^\s*$' "$LOG"; } | tail -n 1 | cut -c1-300
}

step() {  # step "what" command...: runs it with its output in the log; a failure ends the build
    local what=$1
    shift
    echo "== $what" >> "$LOG"
    "$@" >> "$LOG" 2>&1 || fail "$what failed: $(last_error)"
}

begin() {  # exits at once when the environment is up to date; else starts a build with a fresh venv
    up_to_date && exit 0
    START=$SECONDS
    mkdir -p "$VENV"
    rm -f "$VENV/.ready" "$VENV/.failed"
    printf '*\n' > "$VENV/.gitignore"  # never committed, whatever the repo's .gitignore says
    : > "$LOG"
    echo "building $VENV ($WHAT's environment; a fresh build takes several minutes)..." >&2
    command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found ($WHAT's environment needs Python 3.11)"
    [ -x "$VENV/bin/python" ] || step "creating the venv with $PYTHON" "$PYTHON" -m venv "$VENV"
}

finish() {
    touch "$VENV/.ready"
    echo "$VENV ready in $((SECONDS - START)) s ($(du -sh "$VENV" 2>/dev/null | cut -f1))" >&2
}
