"""The commands the exec transport runs to place and remove files (kubeconfigs) in the Halyard pod.

Writing: `sh -c WRITE_FILE_SCRIPT sh <path> <size> <mode>` with the content on stdin. The script reads exactly
`<size>` bytes (`head -c`), so it finishes on the v4 exec protocol too, which cannot half-close stdin; it writes
a temporary file in the target directory with a 077 umask, checks the size, applies the mode and renames the
file into place, so readers never see a partial kubeconfig. Removing: `rm -f <path>` (absent is fine).
Both rely only on POSIX sh, head, wc, tr, mktemp, chmod, mv, mkdir and dirname.
"""

from __future__ import annotations

WRITE_FILE_SCRIPT = """set -eu
umask 077
dest=$1 size=$2 mode=$3
dir=$(dirname "$dest")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.spinop.XXXXXX")
trap 'rm -f "$tmp"' EXIT
head -c "$size" > "$tmp"
got=$(wc -c < "$tmp" | tr -d ' ')
if [ "$got" -ne "$size" ]; then
  echo "spinop: short write to $dest: got $got of $size bytes" >&2
  exit 1
fi
chmod "$mode" "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
"""


def write_file_argv(path: str, size: int, mode: int) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"pod paths must be absolute, got {path!r}")
    return ["sh", "-c", WRITE_FILE_SCRIPT, "sh", path, str(size), f"{mode:04o}"]


def remove_file_argv(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"pod paths must be absolute, got {path!r}")
    return ["rm", "-f", path]
