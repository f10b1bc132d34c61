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
#   make install    honours DESTDIR, prefix, bindir, sbindir, mandir
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

install: $(BIN)
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5
	install -m 755 $(BIN) $(DESTDIR)$(bindir)/smtps-send
	install -m 644 man/smtps-send.1 $(DESTDIR)$(mandir)/man1/smtps-send.1
	install -m 644 man/smtps-send.conf.5 $(DESTDIR)$(mandir)/man5/smtps-send.conf.5

# sendmail(8) compatibility links for callers that run /usr/sbin/sendmail.
install-sendmail-link: install
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(prefix)/lib
	ln -sf $(bindir)/smtps-send $(DESTDIR)$(sbindir)/sendmail
	ln -sf $(bindir)/smtps-send $(DESTDIR)$(prefix)/lib/sendmail

uninstall:
	rm -f $(DESTDIR)$(bindir)/smtps-send $(DESTDIR)$(mandir)/man1/smtps-send.1 \
		$(DESTDIR)$(mandir)/man5/smtps-send.conf.5

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
