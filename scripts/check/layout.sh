#!/usr/bin/env bash
# Checks the core's layering from its includes (run by CTest as layout_includes, so CI fails
# on a break):
#   - an area's files include only its own area and the areas below it, in this order:
#       util -> config -> image -> data -> model -> distributed -> eval -> train -> report -> serve ->
#       export -> cli
#   - CLI11 is included only in src/cli/ (the core knows nothing of the command line);
#   - every header include/ftl/<area>/<name>.h lives in one of the areas;
#   - no command-line flag ("--name") appears in a string of the core (src/ outside src/cli/).
# Prints every break as FILE:LINE: why, and exits 1 if there is one.
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
areas=(util config image data model distributed eval train report serve export cli)
level() {
  local i
  for i in "${!areas[@]}"; do [ "${areas[$i]}" = "$1" ] && { echo "$i"; return; }; done
  echo -1
}
failures=0
fail() { echo "$1"; failures=$((failures + 1)); }

for header in include/ftl/*.h; do
  [ -e "$header" ] && fail "$header: a header outside the areas (include/ftl/<area>/)"
done
for dir in include/ftl/*/ src/*/; do
  area=$(basename "$dir")
  [ "$(level "$area")" -lt 0 ] && fail "$dir: not one of the areas (${areas[*]})"
done

while IFS= read -r file; do
  case "$file" in
    include/ftl/*) area=$(echo "$file" | cut -d/ -f3) ;;
    src/*) area=$(echo "$file" | cut -d/ -f2) ;;
  esac
  own=$(level "$area")
  while IFS=: read -r line included; do
    target=$(echo "$included" | sed -E 's|.*"ftl/([a-z_]+)/.*|\1|')
    [ "$target" = "$included" ] && continue  # ftl/version.h, generated, below every area
    if [ "$(level "$target")" -gt "$own" ]; then
      fail "$file:$line: $area includes ftl/$target/, which is above it (${areas[*]})"
    fi
  done < <(grep -n '#include "ftl/' "$file" | sed -E 's/^([0-9]+):(.*)$/\1:\2/')
  if [ "$area" != cli ]; then
    while IFS=: read -r line _; do
      fail "$file:$line: CLI11 outside src/cli/"
    done < <(grep -n '#include [<"]CLI/' "$file" || true)
    # A flag's name inside a string literal: the CLI words what the user types.
    while IFS=: read -r line _; do
      fail "$file:$line: a command-line flag named in the core (the CLI words flags)"
    done < <(grep -nE '"([^"]*[ (/])?--[a-z][a-z-]+' "$file" | grep -vE '^[0-9]+:\s*//' || true)
  fi
done < <(find include/ftl src -name '*.h' -o -name '*.cpp' | sort)

if [ "$failures" -gt 0 ]; then
  echo "check_layout: $failures break(s) of the layout"
  exit 1
fi
echo "check_layout: every include follows ${areas[*]}"
