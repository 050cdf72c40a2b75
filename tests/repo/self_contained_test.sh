#!/bin/sh
# The repository stands on its own: no file of it reads or names a folder beside the checkout
# (a sibling "shared" folder with API or design documents). Everything a build, a test or a reader
# needs is inside the repository; the API contract is docs/api/container-registry.openapi.yaml.
#
# Usage: self_contained_test.sh SOURCE_DIR
# Lists the tracked files with `git ls-files` when SOURCE_DIR is a git checkout, else every file
# under it (skipping .git, node_modules and build folders, which are not part of the sources).
# Exits 1 and prints each offending line as FILE:LINE:TEXT.
set -u
src=${1:?usage: self_contained_test.sh SOURCE_DIR}
cd "$src" || exit 2

# Built from pieces so that this file does not match itself.
dir=shared
pattern="\\.\\./${dir}|${dir}/(api|design)"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$(pwd -P)" ]; then
  list_files() { git ls-files -z; }
  how="git ls-files"
else
  list_files() {
    find . \( -name .git -o -name node_modules -o -name 'build*' \) -prune -o -type f -print0
  }
  how="find"
fi

hits=$(list_files | xargs -0 grep -n -I -s -E "$pattern" --)
count=$(list_files | tr '\0' '\n' | grep -c .)
if [ -n "$hits" ]; then
  echo "files of the repository name a folder outside it ($how, $count files, pattern $pattern):"
  echo "$hits"
  exit 1
fi
echo "self-contained: $count files ($how), none names a folder outside the repository"
