#!/usr/bin/env bash
# Decoding a 12-megapixel photo for a 299 px input: the full decode against graft's reduced-scale
# JPEG decode, each in its own process (peak memory is per process). The photo is made from the
# largest shared cats-and-dogs photo, enlarged to 4000x3000 and saved as a quality-92 JPEG.
# Usage: bench/decode.sh   (env: PHOTO to use another JPEG, SIZE)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-299}
cargo build --release --quiet --example decode_large
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
PHOTO=${PHOTO:-}
if [ -z "$PHOTO" ]; then
    .venv/bin/python -c "import PIL" 2>/dev/null || .venv/bin/python -m pip install -q --disable-pip-version-check pillow
    src=$(find ../shared/data/cats-dogs-small/train -name '*.jpg' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
    PHOTO=$tmp/photo_12mp.jpg
    .venv/bin/python -c "from PIL import Image; Image.open('$src').convert('RGB').resize((4000, 3000), Image.LANCZOS).save('$PHOTO', quality=92)"
    echo "photo: $src enlarged to 4000x3000 ($(du -k "$PHOTO" | cut -f1) KiB)"
fi
full=$(./target/release/examples/decode_large "$PHOTO" full "$SIZE")
scaled=$(./target/release/examples/decode_large "$PHOTO" scaled "$SIZE")
echo "$full"; echo "$scaled"
python3 - "$full" "$scaled" <<'PY'
import re, sys
f, s = (re.search(r"([\d.]+) ms, .*\((\d+) MiB above", a).groups() for a in sys.argv[1:])
print(f"reduced-scale decode: {float(f[0]) / float(s[0]):.1f}x faster; memory for decoding {f[1]} -> {s[1]} MiB")
PY
