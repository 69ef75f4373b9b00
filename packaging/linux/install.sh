#!/bin/sh
# Install Latent Explorer for the current user: the app, a menu entry with its icon, and the
# .onnx file type, so double-clicking a model in a file manager opens it in Latent Explorer.
#
#   ./install.sh              run from the built app folder (dist/latent-explorer/install.sh)
#   ./install.sh --uninstall  remove all of it again
#
# Writes only under your home: ~/.local/opt/latent-explorer (the app), ~/.local/bin/latent-explorer,
# ~/.local/share/{applications,mime/packages,icons/hicolor}. No root needed.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
OPT=$HOME/.local/opt/latent-explorer
BIN=$HOME/.local/bin
NAME=latent-explorer

refresh() {
  # Each tool is optional: desktops pick the files up at next login without them.
  if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$DATA/mime" >/dev/null 2>&1 || true; fi
  if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true; fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t "$DATA/icons/hicolor" >/dev/null 2>&1 || true; fi
}

forget_default() {
  # Take latent-explorer.desktop out of a mimeapps.list (xdg-mime has no "unset"): drop the
  # entry from every association list, and a line left with nothing.
  list=$1
  [ -f "$list" ] || return 0
  sed -e "s/\(^[^=[]*=\)\(.*;\)\{0,1\}$NAME\.desktop;\{0,1\}/\1\2/" -e '/^[^=[]*=;*$/d' "$list" > "$list.tmp" \
    && cat "$list.tmp" > "$list"
  rm -f "$list.tmp"
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$OPT"
  rm -f "$BIN/$NAME" "$DATA/applications/$NAME.desktop" "$DATA/mime/packages/$NAME-mime.xml"
  rm -f "$DATA/icons/hicolor/scalable/apps/$NAME.svg" "$DATA/icons/hicolor/scalable/mimetypes/application-x-onnx.svg"
  for f in "$DATA"/icons/hicolor/*/apps/$NAME.png "$DATA"/icons/hicolor/*/mimetypes/application-x-onnx.png; do
    rm -f "$f"
  done
  forget_default "${XDG_CONFIG_HOME:-$HOME/.config}/mimeapps.list"
  forget_default "$DATA/applications/mimeapps.list"
  refresh
  echo "Latent Explorer removed."
  exit 0
fi

if [ ! -x "$HERE/$NAME" ] || [ ! -d "$HERE/share" ]; then
  echo "install.sh: expected the built app next to this script ($HERE/$NAME and $HERE/share/);" >&2
  echo "build it first: python packaging/build.py, then run dist/latent-explorer/install.sh" >&2
  exit 2
fi

# 1. the app (copied, so the download folder can go)
if [ "$HERE" != "$OPT" ]; then
  rm -rf "$OPT.new"
  mkdir -p "$(dirname "$OPT")"
  cp -a "$HERE" "$OPT.new"
  rm -rf "$OPT"
  mv "$OPT.new" "$OPT"
fi
mkdir -p "$BIN"
ln -sf "$OPT/$NAME" "$BIN/$NAME"

# 2. icons
for png in "$HERE"/share/icons/$NAME-*.png; do
  size=$(basename "$png" .png); size=${size##*-}
  mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps" "$DATA/icons/hicolor/${size}x${size}/mimetypes"
  cp "$png" "$DATA/icons/hicolor/${size}x${size}/apps/$NAME.png"
  # .onnx files show the app's icon (the MIME XML names application-x-onnx), not "executable"
  cp "$png" "$DATA/icons/hicolor/${size}x${size}/mimetypes/application-x-onnx.png"
done
mkdir -p "$DATA/icons/hicolor/scalable/apps" "$DATA/icons/hicolor/scalable/mimetypes"
cp "$HERE/share/icons/$NAME.svg" "$DATA/icons/hicolor/scalable/apps/$NAME.svg"
cp "$HERE/share/icons/$NAME.svg" "$DATA/icons/hicolor/scalable/mimetypes/application-x-onnx.svg"

# 3. the .onnx type and the menu entry (Exec points at the installed app, not at PATH)
mkdir -p "$DATA/mime/packages" "$DATA/applications"
cp "$HERE/share/$NAME-mime.xml" "$DATA/mime/packages/$NAME-mime.xml"
sed "s|^Exec=.*|Exec=\"$OPT/$NAME\" %F|" "$HERE/share/$NAME.desktop" > "$DATA/applications/$NAME.desktop"
chmod 644 "$DATA/applications/$NAME.desktop"
refresh

# 4. Latent Explorer opens .onnx files by default
if command -v xdg-mime >/dev/null 2>&1; then
  xdg-mime default "$NAME.desktop" application/x-onnx 2>/dev/null || true
else
  # xdg-utils missing: write the default ourselves (the file xdg-mime would edit)
  CONF=${XDG_CONFIG_HOME:-$HOME/.config}
  mkdir -p "$CONF"
  list="$CONF/mimeapps.list"
  touch "$list"
  if ! grep -q '^\[Default Applications\]' "$list"; then printf '[Default Applications]\n' >> "$list"; fi
  grep -v '^application/x-onnx=' "$list" > "$list.tmp" || true
  sed "s|^\[Default Applications\]\$|[Default Applications]\napplication/x-onnx=$NAME.desktop|" "$list.tmp" > "$list"
  rm -f "$list.tmp"
fi

echo "Latent Explorer installed: $OPT"
echo "  menu entry and .onnx file type registered; start it from the menu, or run $BIN/$NAME"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "  ($BIN is not on your PATH; the menu entry works without it)";; esac
