# Sourced by the scripts (not run): puts the pinned tools that scripts/setup installs first
# on PATH, so that every script and every test they start finds those versions, and not
# whatever else this machine has.
#
#   .boxoffice/tools/bin    crates.io tools (cargo install --root), at the versions of setup
#   .boxoffice/tools/venv   PyPI tools, at the versions of scripts/requirements.txt
#
# For `cargo test` by hand: export PATH="$PWD/.boxoffice/tools/bin:$PWD/.boxoffice/tools/venv/bin:$PATH"
BOXOFFICE_TOOLS=${BOXOFFICE_TOOLS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.boxoffice/tools}
case ":$PATH:" in
  *":$BOXOFFICE_TOOLS/bin:$BOXOFFICE_TOOLS/venv/bin:"*) ;;
  *) PATH="$BOXOFFICE_TOOLS/bin:$BOXOFFICE_TOOLS/venv/bin:$PATH" ;;
esac
export BOXOFFICE_TOOLS PATH
