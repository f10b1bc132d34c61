# tests/package/hostdeps.sh — sourced by build-deb.sh and check.sh (which
# set $top): pkg_need PKG... installs the Debian packages that are missing
# through tests/deps.sh (root, apt-get, no daemon started, no question
# asked); as another user it prints the apt-get line and fails.

pkg_need() {
	sh "$top/tests/deps.sh" only "$@"
}
