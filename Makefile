# smtps-send — hand-written GNU Makefile driven by what configure writes
# (config.h and config.mk).  In a fresh clone `make` installs missing build
# packages (as root), runs autoreconf and configure, then builds.
#
#   make            build build/smtps-send
#   make check      install test packages, build, unit tests (also under
#                   ASan+UBSan), end-to-end tests against real servers,
#                   fuzzers (FUZZ_SECONDS each, default 30), lint
#   make fuzz       only the libFuzzer harnesses
#   make demo       send one message through a local Postfix with TLS + AUTH
#   make install    honours DESTDIR, prefix, bindir, sysconfdir, mandir
#   make dist       smtps-send-VERSION.tar.gz that configures and builds alone

O ?= build
SHELL = /bin/sh

NOCONFIG_GOALS = clean distclean deps help
ifeq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
else
-include config.mk
endif

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wvla -Wcast-qual -Wwrite-strings -Wnull-dereference
WERROR ?= -Werror
ALL_CPPFLAGS = -I. -Isrc -D_GNU_SOURCE $(CPPFLAGS) \
	-DSYSCONFDIR='"$(sysconfdir)"' -DDEFAULT_CONFIG='"$(DEFAULT_CONFIG)"'
ALL_CFLAGS = -std=c11 $(WARN) $(WERROR) $(CFLAGS) $(EXTRA_CFLAGS) \
	$(GNUTLS_CFLAGS) $(LIBBSD_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)
ALL_LIBS = $(GNUTLS_LIBS) $(LIBBSD_LIBS) $(LIBS)

LIB_SRCS = $(sort $(wildcard src/*/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(O)/%.o)
HDRS = $(wildcard src/*/*.h) config.h
BIN = $(O)/smtps-send

UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_SUPPORT_SRCS = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_SUPPORT_OBJS = $(UNIT_SUPPORT_SRCS:%.c=$(O)/%.o)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)

SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
# End-to-end tests also run with the sanitizer build (a run.sh filter).
SAN_E2E = t_session t_faults

.PHONY: all check unit check-unit check-sanitize check-valgrind check-e2e lint demo install \
	install-sendmail-link uninstall clean distclean dist distcheck deps fuzz
.DELETE_ON_ERROR:
# Keep objects of the pattern chains (unit runners) between runs.
.SECONDARY:

all: $(BIN)

config.mk config.h: configure config.mk.in
	@sh tests/deps.sh build
	./configure $(CONFIGURE_FLAGS)

configure config.h.in: configure.ac
	@sh tests/deps.sh build
	autoreconf -fi
	@touch configure config.h.in

deps:
	@sh tests/deps.sh test

# V=1 shows the full commands.
Q = $(if $(V),,@)
$(O)/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libsmtps.a: $(LIB_OBJS)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BIN): $(O)/src/main.o $(O)/libsmtps.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LIBS)

# Unit tests: one cmocka runner per module, each linked with the support
# files in tests/unit (the scripted transport) and the convenience library.
$(O)/tests/unit/%.o: tests/unit/%.c $(HDRS) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit -c -o $@ $<

$(O)/tests/unit/test_%: $(O)/tests/unit/test_%.o $(UNIT_SUPPORT_OBJS) $(O)/libsmtps.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(ALL_LIBS)

unit: $(UNIT_BINS)

check-unit: $(BIN) $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

# Unit tests and the session/fault end-to-end tests again with ASan+UBSan.
check-sanitize:
	$(MAKE) O=build-san EXTRA_CFLAGS="$(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)" check-unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98 \
	    UBSAN_OPTIONS=halt_on_error=1:exitcode=98 \
	    SMTPS_SEND=$(abspath build-san/smtps-send) sh tests/e2e/run.sh $(SAN_E2E)

# Unit tests and the session end-to-end tests under valgrind.
VALGRIND_UNIT = valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect
check-valgrind: $(BIN) $(UNIT_BINS)
	@UNIT_WRAPPER="$(VALGRIND_UNIT)" sh tests/run-unit.sh $(UNIT_BINS)
	@VALGRIND_SMTPS_SEND=$(abspath $(BIN)) SMTPS_SEND=$(abspath tests/valgrind-smtps-send) \
	    sh tests/e2e/run.sh t_session

check-e2e: $(BIN)
	@SMTPS_SEND=$(abspath $(BIN)) sh tests/e2e/run.sh

check: deps
	$(MAKE) check-unit
	$(MAKE) check-sanitize
	$(MAKE) check-valgrind
	$(MAKE) check-e2e
	$(MAKE) fuzz
	$(MAKE) lint
	@echo "make check: all passed"

lint:
	@sh tests/lint.sh

# libFuzzer harnesses (clang), each for FUZZ_SECONDS; seeds in tests/fuzz/corpus.
FUZZ_SECONDS ?= 30
fuzz: config.h
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

demo: deps $(BIN)
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

install: $(BIN)
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 \
		$(DESTDIR)$(systemdunitdir) $(DESTDIR)$(crondir) $(DESTDIR)$(sysconfdir)
	install -m 755 $(BIN) $(DESTDIR)$(bindir)/smtps-send
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
		autom4te.cache aclocal.m4 config.h.in~ smtps-send-*.tar.gz

DISTNAME = smtps-send-$(PACKAGE_VERSION)
dist: configure config.h.in
	@rm -rf $(DISTNAME) $(DISTNAME).tar.gz
	@mkdir $(DISTNAME)
	git ls-files -z | xargs -0 cp --parents -t $(DISTNAME)
	cp -p configure config.h.in $(DISTNAME)/
	@# Generated files newer than configure.ac: the tarball needs no autoconf.
	touch $(DISTNAME)/configure $(DISTNAME)/config.h.in
	tar -czf $(DISTNAME).tar.gz $(DISTNAME)
	@rm -rf $(DISTNAME)
	@echo "wrote $(DISTNAME).tar.gz"

distcheck: dist
	@rm -rf build/distcheck && mkdir -p build/distcheck
	tar -xzf $(DISTNAME).tar.gz -C build/distcheck
	$(MAKE) -C build/distcheck/$(DISTNAME) check
	@rm -rf build/distcheck
	@echo "$(DISTNAME).tar.gz: distcheck passed"
