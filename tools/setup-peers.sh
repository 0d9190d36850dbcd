#!/usr/bin/env bash
# Creates the Python environment of the race's peers (bench/peers/): PyTorch 2 and JAX from PyPI, in
# .venv-peers/ (git-ignored), for bench/peers/run_race.py.
#   bash tools/setup-peers.sh            # or: PYTHON=/path/to/python3.13 bash tools/setup-peers.sh
# - JAX 0.12 needs Python >= 3.12: the script takes $PYTHON, else the first python3.1x >= 3.12 on PATH or
#   under pyenv, and stops with a message when there is none (an older pip would quietly install an old JAX).
# - PyPI's torch is the CUDA build, whose dependencies are ~3 GB of CUDA libraries the CPU never uses. The
#   wheel goes in without them; its shared libraries still name a few CUDA libraries, so the script imports
#   torch, installs the wheel that provides each library (or symbol) the import reports missing, and tries
#   again. A machine with the CUDA toolkit installed needs the fewest (the list is printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-peers}
TORCH_VERSION=${TORCH_VERSION:-2.15.0}
JAX_VERSION=${JAX_VERSION:-0.12.0.1}

# A Python >= 3.12 that can make a virtual environment.
python_ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
find_python() {
  local candidates=()
  [[ -n "${PYTHON:-}" ]] && candidates+=("$PYTHON")
  candidates+=(python3.14 python3.13 python3.12 python3)
  local pyenv=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3)
  for ((i = ${#pyenv[@]} - 1; i >= 0; --i)); do candidates+=("${pyenv[i]}"); done  # newest first
  for c in "${candidates[@]}"; do
    if python_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}
if ! PY=$(find_python); then
  echo "setup-peers: JAX ${JAX_VERSION} needs Python >= 3.12, and none was found (tried \$PYTHON, python3.14," \
       "python3.13, python3.12 and python3 on PATH, and pyenv's versions/3.12+). Install one, e.g." \
       "'pyenv install 3.13', or point PYTHON at it." >&2
  exit 1
fi
echo "setup-peers: $("$PY" --version) from $PY -> $VENV"

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
# pip install, quiet, without pip's complaints that torch's other CUDA requirements are missing: they are
# left out on purpose.
pip_install() {
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2> >(
    grep -vE "^ERROR: pip's dependency resolver|^torch [0-9.]+ requires " >&2)
}
PIP=(pip_install)
# torch's own Python dependencies (the CUDA ones excepted), JAX with its dependencies, then torch alone.
"${PIP[@]}" numpy filelock "typing-extensions>=4.13" "setuptools>=77" "sympy>=1.13.3" "networkx>=2.5.1" jinja2 \
  "fsspec>=0.8.5" "jax==${JAX_VERSION}" "jaxlib==${JAX_VERSION}"
"${PIP[@]}" --no-deps "torch==${TORCH_VERSION}"

# The requirement of torch's metadata for `package` (with its version pin), e.g. nvidia-nccl-cu13==2.30.7.
torch_requirement() {
  "$VENV/bin/python" - "$1" <<'EOF'
import importlib.metadata, re, sys
want = sys.argv[1]
name, _, extra = want.partition("[")
for req in importlib.metadata.requires("torch") or []:
    m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*([^;]*)", req)
    if m and m.group(1).lower() == name.lower():
        print(f"{name}{'[' + extra if extra else ''}{m.group(3).strip()}")
        break
else:
    sys.exit(f"torch {want}: not among torch's requirements")
EOF
}

# The wheel that provides a library (libcufile.so.0) or a symbol's library (ncclCommResume -> nccl).
wheel_for() {
  case "$1" in
    *cusparseLt*|*cusparselt*) echo nvidia-cusparselt-cu13 ;;
    *cudnn*) echo nvidia-cudnn-cu13 ;;
    *nccl*) echo nvidia-nccl-cu13 ;;
    *nvshmem*) echo nvidia-nvshmem-cu13 ;;
    *cufile*) echo "cuda-toolkit[cufile]" ;;
    *cublas*) echo "cuda-toolkit[cublas]" ;;
    *cudart*|cuda[A-Z]*) echo "cuda-toolkit[cudart]" ;;
    *cufft*) echo "cuda-toolkit[cufft]" ;;
    *cusolver*) echo "cuda-toolkit[cusolver]" ;;
    *cusparse*) echo "cuda-toolkit[cusparse]" ;;
    *cupti*|*Cupti*) echo "cuda-toolkit[cupti]" ;;
    *nvrtc*) echo "cuda-toolkit[nvrtc]" ;;
    *nvJitLink*|*nvjitlink*) echo "cuda-toolkit[nvjitlink]" ;;
    *nvtx*|*nvToolsExt*) echo "cuda-toolkit[nvtx]" ;;
    *) return 1 ;;
  esac
}

added=()
for attempt in $(seq 1 16); do
  if err=$("$VENV/bin/python" -c "import torch" 2>&1); then break; fi
  pattern="lib[A-Za-z0-9_]+\.so[.0-9]*: cannot open|undefined symbol: [A-Za-z0-9_]+"
  missing=$(grep -oE "$pattern" <<<"$err" | head -1 || true)
  missing=${missing%: cannot open}
  missing=${missing#undefined symbol: }
  if [[ -z "$missing" ]] || ! wheel=$(wheel_for "$missing"); then
    echo "setup-peers: 'import torch' fails, and not for a CUDA library this script knows:" >&2
    echo "$err" | tail -5 >&2
    exit 1
  fi
  requirement=$(torch_requirement "$wheel")
  echo "setup-peers: import torch needs $missing -> installing $requirement"
  "${PIP[@]}" "$requirement"
  added+=("$requirement")
done

"$VENV/bin/python" -c "import torch, jax; print('setup-peers: torch', torch.__version__, '| jax', jax.__version__)"
[[ ${#added[@]} -gt 0 ]] && echo "setup-peers: import torch needed: ${added[*]}"
echo "setup-peers: CUDA wheels in the environment:" \
  $("$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -iE "^(nvidia|cuda)" | tr -s ' ' '=')
echo "setup-peers: $(du -sh "$VENV" | cut -f1) in $VENV"
