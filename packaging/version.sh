#!/bin/sh
# version.sh [DIR]: the version of the tcp-advisor checkout in DIR (default
# the current directory), from its release tags (vMAJOR.MINOR.PATCH, with an
# optional -PRERELEASE), in the form the binary and both packages carry:
# semver, which nfpm turns into deb and rpm versions that sort the same way.
#   on the tag v0.2.0                   0.2.0
#   3 commits after it, at abc1234      0.2.0+3.gabc1234
#   with uncommitted changes            0.2.0+dirty, 0.2.0+3.gabc1234.dirty
#   no release tag yet                  0.0.0+gabc1234
# Build metadata (+...) sorts above the tag it follows in dpkg and rpm alike.
set -eu
cd "${1:-.}"
if ! d=$(git describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --dirty 2>/dev/null); then
	d="v0.0.0-0-g$(git describe --always --dirty)"
fi
echo "$d" | sed -E \
	-e 's/^v//' \
	-e 's/-0-(g[0-9a-f]+)/+\1/' \
	-e 's/-([0-9]+)-(g[0-9a-f]+)/+\1.\2/' \
	-e 's/(\+[0-9a-z.]+)-dirty$/\1.dirty/' \
	-e 's/-dirty$/+dirty/'
