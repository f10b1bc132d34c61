# smtps-send — hand-written GNU Makefile driven by what configure writes
# (config.h and config.mk).  In a fresh clone `make` runs autoreconf and
# configure, then builds; it never installs anything (configure names the
# Debian package of a missing build dependency).
#
#   make            build build/smtps-send
#   make deps       install the build and test packages (Debian, as root)
#   make check      make deps, then build, unit tests (also under ASan+UBSan
#                   and valgrind), end-to-end tests against real servers,
#                   fuzzers (FUZZ_SECONDS each, default 30), lint; -Werror
#   make check-unit only the cmocka unit tests (skipped without cmocka)
#   make fuzz       only the libFuzzer harnesses
#   make demo       make deps, then send one message through a local Postfix
#                   with TLS + AUTH
#   make install    honours DESTDIR, prefix, bindir, sysconfdir, mandir
#   make deb        the Debian packages (build/deb); make check-package tests them
#   make dist       smtps-send-VERSION.tar.gz that configures and builds alone
#   make distcheck  make dist, then build, check and install the tarball
#
# Warnings are errors (-Werror) in a git clone and in make check (so in
# CI); the release tarball builds without -Werror (its release.mk), so a
# newer compiler's new warnings cannot break a user's build.  WERROR= or
# WERROR=-Werror on the command line decides instead.  V=1 shows commands.

O ?= build
SHELL = /bin/sh

# Goals that need no configured tree.  check and demo are among them: they
# install packages first (make deps), then run make again for the rest.
NOCONFIG_GOALS = clean distclean deps help check demo
ifeq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
else
-include config.mk
endif
# Only in the release tarball, written by make dist: a user's build defaults.
-include release.mk

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wvla -Wcast-qual -Wwrite-strings -Wnull-dereference
WERROR_DEFAULT ?= -Werror
WERROR ?= $(WERROR_DEFAULT)

# Sanitizers do not intercept glibc's fortified *_chk functions (they miss
# errors or report false ones): no _FORTIFY_SOURCE in a sanitizer build.
ifneq ($(findstring -fsanitize=,$(CFLAGS) $(EXTRA_CFLAGS)),)
HARDEN_CPPFLAGS := $(filter-out -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=%,$(HARDEN_CPPFLAGS)) \
	-U_FORTIFY_SOURCE
endif

ALL_CPPFLAGS = -I. -Isrc -D_GNU_SOURCE $(HARDEN_CPPFLAGS) $(CPPFLAGS) \
	-DSYSCONFDIR='"$(sysconfdir)"' -DDEFAULT_CONFIG='"$(DEFAULT_CONFIG)"' \
	-DLIBEXECDIR='"$(libexecdir)"'
ALL_CFLAGS = -std=c11 $(WARN) $(WERROR) $(HARDEN_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) \
	$(GNUTLS_CFLAGS) $(LIBBSD_CFLAGS) $(JANSSON_CFLAGS)
ALL_LDFLAGS = $(HARDEN_LDFLAGS) $(LDFLAGS) $(EXTRA_LDFLAGS)
ALL_LIBS = $(GNUTLS_LIBS) $(LIBBSD_LIBS) $(JANSSON_LIBS) $(LIBS)
# Each object also writes its header dependencies (.d, read back below).
DEPFLAGS = -MMD -MP

LIB_SRCS = $(sort $(wildcard src/*/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(O)/%.o)
BIN = $(O)/smtps-send
# The OAuth2 companion (src/auth/helper): the only program linked with
# libcurl, run by smtps-send when a token must be fetched (src/auth/oauth2.h).
HELPER_SRCS = $(sort $(wildcard src/auth/helper/*.c))
HELPER_OBJS = $(HELPER_SRCS:%.c=$(O)/%.o)
HELPER = $(O)/smtps-send-oauth2

# The compile and link flags of the last build in $(O): when they change
# (WERROR, EXTRA_CFLAGS, a new configure), every object is rebuilt.
FLAGS_STAMP = $(O)/.flags
FLAGS_NOW = $(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(ALL_LIBS)
# (Not under make -n: the stamp would claim a build that did not happen.)
ifneq ($(PACKAGE_VERSION),)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
$(shell mkdir -p $(O))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif
endif
endif

UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_SUPPORT_SRCS = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_SUPPORT_OBJS = $(UNIT_SUPPORT_SRCS:%.c=$(O)/%.o)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)

# Without cmocka (configure's HAVE_CMOCKA) the runners are not built and
# run-unit.sh says so (a failure under CI=true).
ifeq ($(HAVE_CMOCKA),yes)
UNIT_RUN = $(UNIT_BINS)
else
UNIT_RUN =
endif

SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
# End-to-end tests also run with the sanitizer build (a run.sh filter).
SAN_E2E = t_session t_faults

.PHONY: all check unit check-unit check-sanitize check-valgrind check-e2e lint demo install \
	install-sendmail-link uninstall clean distclean dist distcheck deps fuzz help
.DELETE_ON_ERROR:
# Keep objects of the pattern chains (unit runners) between runs.
.SECONDARY:

all: $(BIN) $(HELPER)

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' Makefile

# configure again with the arguments it was first given (config.status
# keeps them), or for the first time with CONFIGURE_FLAGS.  config.status
# leaves an unchanged config.h alone: touch it, or this rule runs forever.
config.mk config.h &: configure config.mk.in
	@if [ -x config.status ]; then \
		echo "./config.status --recheck"; \
		./config.status --recheck && ./config.status; \
	else \
		echo "./configure $(CONFIGURE_FLAGS)"; \
		./configure $(CONFIGURE_FLAGS); \
	fi
	@touch config.mk config.h

# Only a git clone gets here (the tarball has configure).  Nothing is
# installed: a missing tool is named with its Debian package.
configure config.h.in &: configure.ac
	@for t in autoreconf aclocal pkg-config; do \
		command -v $$t >/dev/null 2>&1 && continue; \
		echo "make: $$t not found: a git clone needs autoconf, automake and pkg-config" >&2; \
		echo "  (Debian: apt-get install autoconf automake pkg-config, or: make deps)" >&2; \
		exit 1; \
	done
	autoreconf -fi
	@touch configure config.h.in

deps:
	@sh tests/deps.sh test

Q = $(if $(V),,@)
$(FLAGS_STAMP): ;
$(O)/%.o: %.c config.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(O)/libsmtps.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BIN): $(O)/src/main.o $(O)/libsmtps.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(O)/src/auth/helper/%.o: src/auth/helper/%.c config.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(CURL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(HELPER): $(HELPER_OBJS) $(O)/libsmtps.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(CURL_LIBS) $(ALL_LIBS)

# Unit tests: one cmocka runner per module, each linked with the support
# files in tests/unit (the scripted transport) and the convenience library.
$(O)/tests/unit/%.o: tests/unit/%.c config.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit $(DEPFLAGS) -c -o $@ $<

$(O)/tests/unit/test_%: $(O)/tests/unit/test_%.o $(UNIT_SUPPORT_OBJS) $(O)/libsmtps.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(ALL_LIBS)

unit: $(UNIT_RUN)
ifneq ($(HAVE_CMOCKA),yes)
	@echo "unit: cmocka was not found by configure: no unit-test runners built"
endif

check-unit: $(BIN) $(HELPER) $(UNIT_RUN)
	@HAVE_CMOCKA=$(HAVE_CMOCKA) sh tests/run-unit.sh $(UNIT_RUN)

# Unit tests and the session/fault end-to-end tests again with ASan+UBSan.
check-sanitize:
	$(MAKE) O=build-san EXTRA_CFLAGS="$(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)" check-unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98 \
	    UBSAN_OPTIONS=halt_on_error=1:exitcode=98 SX_TIME_FACTOR=3 \
	    SMTPS_SEND=$(abspath build-san/smtps-send) sh tests/e2e/run.sh $(SAN_E2E)

# Unit tests and the session end-to-end tests under valgrind.
VALGRIND_UNIT = valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect
check-valgrind: $(BIN) $(UNIT_RUN)
	@HAVE_CMOCKA=$(HAVE_CMOCKA) UNIT_WRAPPER="$(VALGRIND_UNIT)" sh tests/run-unit.sh $(UNIT_RUN)
	@VALGRIND_SMTPS_SEND=$(abspath $(BIN)) SMTPS_SEND=$(abspath tests/valgrind-smtps-send) \
	    SX_TIME_FACTOR=5 sh tests/e2e/run.sh t_session

check-e2e: $(BIN)
	@SMTPS_SEND=$(abspath $(BIN)) sh tests/e2e/run.sh

# Warnings are errors here, also in the release tarball (distcheck).
check: export WERROR = -Werror
check: deps
	$(MAKE) check-unit
	$(MAKE) check-sanitize
	$(MAKE) check-valgrind
	$(MAKE) check-e2e
	$(MAKE) check-package
	$(MAKE) fuzz
	$(MAKE) lint
	@echo "make check: all passed"

lint:
	@sh tests/lint.sh

# libFuzzer harnesses (clang), each for FUZZ_SECONDS; seeds in tests/fuzz/corpus.
FUZZ_SECONDS ?= 30
fuzz: config.h
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

demo: deps
	$(MAKE) all
	@SMTPS_SEND=$(abspath $(BIN)) sh tests/demo.sh

# make install: the binary, the man pages, the queue runner's systemd
# service + timer and its cron.d entry (which does nothing when systemd
# runs), and $(sysconfdir)/smtps-send.conf as a commented template when
# there is no system config yet (neither there nor in /etc).  As root on
# a live systemd host (no DESTDIR) the timer is also enabled.  Unit and
# cron directories are where systemd and cron look, whatever the prefix;
# override them like any other variable.
systemdunitdir ?= $(prefix)/lib/systemd/system
crondir ?= /etc/cron.d
INSTALL_SUBST = sed -e 's|@bindir@|$(bindir)|g'

install: $(BIN) $(HELPER)
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 \
		$(DESTDIR)$(systemdunitdir) $(DESTDIR)$(crondir) $(DESTDIR)$(sysconfdir)
	install -m 755 $(BIN) $(DESTDIR)$(bindir)/smtps-send
	install -d $(DESTDIR)$(libexecdir)/smtps-send
	install -m 755 $(HELPER) $(DESTDIR)$(libexecdir)/smtps-send/smtps-send-oauth2
	install -m 644 man/smtps-send.1 $(DESTDIR)$(mandir)/man1/smtps-send.1
	install -m 644 man/smtps-send.conf.5 $(DESTDIR)$(mandir)/man5/smtps-send.conf.5
	$(INSTALL_SUBST) dist/systemd/smtps-send-queue.service.in >$(O)/smtps-send-queue.service
	install -m 644 $(O)/smtps-send-queue.service dist/systemd/smtps-send-queue.timer \
		$(DESTDIR)$(systemdunitdir)/
	$(INSTALL_SUBST) dist/cron.d/smtps-send.in >$(O)/smtps-send.cron
	install -m 644 $(O)/smtps-send.cron $(DESTDIR)$(crondir)/smtps-send
	@if [ -e $(DESTDIR)$(sysconfdir)/smtps-send.conf ]; then \
		echo "install: kept the existing $(sysconfdir)/smtps-send.conf"; \
	elif [ -e $(DESTDIR)/etc/smtps-send.conf ]; then \
		echo "install: no template in $(sysconfdir): /etc/smtps-send.conf exists"; \
	else \
		install -m 640 dist/smtps-send.conf $(DESTDIR)$(sysconfdir)/smtps-send.conf && \
		echo "install: $(sysconfdir)/smtps-send.conf (a commented template, mode 0640)"; \
	fi
	@if [ -n "$(DESTDIR)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then \
		systemctl daemon-reload && systemctl enable --now smtps-send-queue.timer && \
		echo "install: enabled smtps-send-queue.timer (root's queue is retried every 15 minutes)"; \
	else \
		echo "install: root's queue is retried by $(crondir)/smtps-send when systemd does not run;" \
		     "with systemd: systemctl enable --now smtps-send-queue.timer"; \
	fi

# The links callers run (cron, PHP, mutt, mailx and git send-email use
# /usr/sbin/sendmail or /usr/lib/sendmail), whatever the prefix.  Another
# MTA's file there is refused unless FORCE=1 (then moved aside; uninstall
# puts it back).  On Debian the smtps-send-mta package does this properly.
SENDMAIL_LINKS ?= /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/sbin/newaliases
install-sendmail-link: install
	@DESTDIR="$(DESTDIR)" FORCE="$(FORCE)" sh dist/install-links.sh install \
		$(bindir)/smtps-send $(SENDMAIL_LINKS)

# Leaves $(sysconfdir)/smtps-send.conf and the queue alone: they are yours.
uninstall:
	@DESTDIR="$(DESTDIR)" sh dist/install-links.sh uninstall $(bindir)/smtps-send \
		$(SENDMAIL_LINKS)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then \
		systemctl disable --now smtps-send-queue.timer 2>/dev/null || :; \
	fi
	rm -f $(DESTDIR)$(bindir)/smtps-send $(DESTDIR)$(mandir)/man1/smtps-send.1 \
		$(DESTDIR)$(libexecdir)/smtps-send/smtps-send-oauth2 \
		$(DESTDIR)$(mandir)/man5/smtps-send.conf.5 \
		$(DESTDIR)$(systemdunitdir)/smtps-send-queue.service \
		$(DESTDIR)$(systemdunitdir)/smtps-send-queue.timer $(DESTDIR)$(crondir)/smtps-send
	@echo "uninstall: kept $(sysconfdir)/smtps-send.conf and the queue (/var/spool/smtps-send)"

# Debian packages smtps-send and smtps-send-mta (debian/), built with
# dpkg-buildpackage -us -uc -b from a copy of the tree in $(O)/deb, so the
# configure run for /usr does not touch this tree's config.mk.  The .debs
# end up in $(O)/deb.
.PHONY: deb check-package
deb:
	@sh tests/package/build-deb.sh "$(O)/deb"

# Builds the .debs, runs lintian, and installs them in a Debian 12 chroot
# in place of Postfix (tests/package/check.sh; root, network for the first
# debootstrap, cached after that).
check-package:
	@O="$(O)" sh tests/package/check.sh

clean:
	rm -rf build build-san build-fuzz

distclean: clean
	rm -rf config.mk config.h config.h.in config.log config.status configure \
		autom4te.cache aclocal.m4 config.h.in~ configure~ build-aux smtps-send-*.tar.gz

DISTNAME = smtps-send-$(PACKAGE_VERSION)
dist: configure config.h.in
	@rm -rf $(DISTNAME) $(DISTNAME).tar.gz
	@mkdir $(DISTNAME)
	git ls-files -z | xargs -0 cp --parents -t $(DISTNAME)
	cp -p --parents configure config.h.in build-aux/config.guess build-aux/config.sub \
		$(DISTNAME)/
	printf '%s\n' '# Written by make dist: the release build does not use -Werror.' \
		'WERROR_DEFAULT =' >$(DISTNAME)/release.mk
	@# Generated files newer than configure.ac: the tarball needs no autoconf.
	touch $(DISTNAME)/configure $(DISTNAME)/config.h.in
	tar -czf $(DISTNAME).tar.gz $(DISTNAME)
	@rm -rf $(DISTNAME)
	@echo "wrote $(DISTNAME).tar.gz"

# The tarball as a user builds it (no autoconf, no -Werror), then its
# whole make check, then an install into a scratch DESTDIR.
DC = build/distcheck/$(DISTNAME)
distcheck: dist
	@rm -rf build/distcheck && mkdir -p build/distcheck
	tar -xzf $(DISTNAME).tar.gz -C build/distcheck
	$(MAKE) -C $(DC) V=1 all >build/distcheck/build.log 2>&1 || \
		{ tail -20 build/distcheck/build.log; exit 1; }
	@if grep -q -e '-Werror' build/distcheck/build.log; then \
		echo "distcheck: the tarball's default build uses -Werror" >&2; exit 1; fi
	@if [ -e $(DC)/autom4te.cache ]; then \
		echo "distcheck: the tarball's build ran autoreconf" >&2; exit 1; fi
	$(MAKE) -C $(DC) check
	$(MAKE) -C $(DC) DESTDIR=$(abspath build/distcheck/root) install
	@test -x build/distcheck/root$(bindir)/smtps-send
	@test -f build/distcheck/root$(mandir)/man5/smtps-send.conf.5
	@rm -rf build/distcheck
	@echo "$(DISTNAME).tar.gz: distcheck passed"

# Header dependencies written by the compiler (-MMD -MP); last, so that no
# rule in them becomes the default goal.
-include $(wildcard $(O)/src/*.d $(O)/src/*/*.d $(O)/src/auth/helper/*.d $(O)/tests/unit/*.d)
