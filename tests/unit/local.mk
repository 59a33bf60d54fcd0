# Unit tests (cmocka), one program per topic.
if HAVE_CMOCKA
check_PROGRAMS += unit/test_escape unit/test_config unit/test_vocab unit/test_util unit/test_auditlog unit/test_agentproto \
	unit/test_jsonflat unit/test_gwlist
TESTS += unit/test_escape unit/test_config unit/test_vocab unit/test_util unit/test_auditlog unit/test_agentproto \
	unit/test_jsonflat unit/test_gwlist
unit_test_escape_SOURCES = unit/test_escape.c
unit_test_escape_LDADD = $(LB_LIB) $(CMOCKA_LIBS)
unit_test_config_SOURCES = unit/test_config.c
unit_test_config_LDADD = $(LB_LIB) $(CMOCKA_LIBS)
unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DLB_CONFS_DIR='"$(abs_srcdir)/confs"'
unit_test_vocab_SOURCES = unit/test_vocab.c
unit_test_vocab_LDADD = $(LB_LIB) $(CMOCKA_LIBS)
unit_test_vocab_CPPFLAGS = $(AM_CPPFLAGS) -DLB_TOP_SRCDIR='"$(abs_top_srcdir)"'
unit_test_util_SOURCES = unit/test_util.c
unit_test_util_LDADD = $(LB_LIB) $(CMOCKA_LIBS)
unit_test_auditlog_SOURCES = unit/test_auditlog.c
unit_test_auditlog_LDADD = $(LB_LIB) $(CMOCKA_LIBS)
unit_test_agentproto_SOURCES = unit/test_agentproto.c
unit_test_agentproto_LDADD = $(LB_LIB) $(CMOCKA_LIBS) $(JANSSON_LIBS) -lpthread
unit_test_jsonflat_SOURCES = unit/test_jsonflat.c
unit_test_jsonflat_LDADD = $(LB_LIB) $(CMOCKA_LIBS) $(JANSSON_LIBS)
# several gateway URLs: parsing, order, the failover rule, each attempt's share (lib/gwlist.c),
# and lb_gw_request against loopback listeners (lib/gwrequest.c)
unit_test_gwlist_SOURCES = unit/test_gwlist.c
unit_test_gwlist_LDADD = $(LB_LIB) $(CMOCKA_LIBS) $(JANSSON_LIBS) -lpthread
endif
EXTRA_DIST += confs
