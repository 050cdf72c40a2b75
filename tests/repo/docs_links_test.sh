#!/bin/sh
# Every relative Markdown link in the repository's documents reaches something that exists: the
# file or folder it names (relative to the document), and for a `#anchor` a heading of the target
# document whose slug is the anchor. Slugs follow GitHub's rule: lower case, punctuation dropped
# (letters, digits, '-', '_' and spaces kept), spaces to '-', and a repeated slug gets -1, -2...
# Links with a scheme (https:, mailto:) are not checked; fenced code blocks and `code spans` are
# skipped, since what they hold is not a link.
#
# Usage: docs_links_test.sh SOURCE_DIR [FILE.md...]
# Without FILE arguments it checks README.md, docs/**/*.md and manifests/README.md under
# SOURCE_DIR. Exits 1 and prints each broken link as FILE:LINE: target: why.
set -u
src=${1:?usage: docs_links_test.sh SOURCE_DIR [FILE.md...]}
shift
cd "$src" || exit 2

if [ $# -gt 0 ]; then
  files=$*
else
  files="README.md manifests/README.md $(find docs -name '*.md' -type f | sort)"
fi

# Prints "LINE<TAB>TARGET" for each inline link or image of the Markdown file $1.
links() {
  awk '
    /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
    fenced { next }
    {
      line = $0
      gsub(/`[^`]*`/, "", line)
      while (match(line, /\]\([^) \t]+([ \t]+"[^"]*")?\)/)) {
        target = substr(line, RSTART + 2, RLENGTH - 3)
        sub(/[ \t].*$/, "", target)
        print NR "\t" target
        line = substr(line, RSTART + RLENGTH)
      }
    }' "$1"
}

# Prints the anchor slug of every heading of the Markdown file $1, one a line.
slugs() {
  awk '
    /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
    fenced { next }
    /^#+[ \t]/ {
      h = $0
      sub(/^#+[ \t]+/, "", h)
      sub(/[ \t]+#*[ \t]*$/, "", h)
      h = tolower(h)
      gsub(/[^a-z0-9 _-]/, "", h)
      gsub(/ /, "-", h)
      n = seen[h]++
      print (n ? h "-" n : h)
    }' "$1"
}

broken=0
checked=0
for f in $files; do
  [ -f "$f" ] || { echo "$f: no such document"; broken=$((broken + 1)); continue; }
  dir=$(dirname "$f")
  tab=$(printf '\t')
  while IFS=$tab read -r line target; do
    [ -n "$target" ] || continue
    case "$target" in
      *:*) continue ;;  # a scheme: https:, http:, mailto:
    esac
    checked=$((checked + 1))
    path=${target%%#*}
    anchor=
    case "$target" in *'#'*) anchor=${target#*#} ;; esac
    if [ -z "$path" ]; then
      resolved=$f
    else
      resolved=$dir/$path
    fi
    if [ ! -e "$resolved" ]; then
      echo "$f:$line: $target: $resolved does not exist"
      broken=$((broken + 1))
      continue
    fi
    if [ -n "$anchor" ]; then
      if [ ! -f "$resolved" ]; then
        echo "$f:$line: $target: an anchor into $resolved, which is not a file"
        broken=$((broken + 1))
      elif ! slugs "$resolved" | grep -qxF -- "$anchor"; then
        echo "$f:$line: $target: $resolved has no heading with the anchor #$anchor"
        broken=$((broken + 1))
      fi
    fi
  done <<EOF
$(links "$f")
EOF
done

if [ "$broken" -gt 0 ]; then
  echo "$broken broken links (of $checked relative links checked)"
  exit 1
fi
echo "docs links: $checked relative links, all reach an existing file and heading"
