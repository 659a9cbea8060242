/*
 * Tests of daemon/api.c: the route table and the access decisions, driven
 * with requests built in memory, fake peers (uids and groups), and clients
 * that run on the fake clock and fetch of unit.h. No socket: what server.c
 * adds (transport, limits, credentials) is tested end to end elsewhere.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <json-c/json.h>

#define UNIT_CLIENT
#include "unit.h"

#include "api.h"
#include "client.h"
#include "conf.h"
#include "log.h"

#define SELF_UID	990	/* the daemon's own user */
#define ALICE		1000
#define BOB		1001
#define ALICE_GROUP	2000

struct reply {
	int		 calls;
	int		 status;
	char		 type[64];
	char		*body;
	json_object	*json;
};

static struct api		*api;
static struct conf_client	*cc_open, *cc_alice;
static struct client		*clients[2];
static struct reply		 rep;
static struct api_request	 req;

static void
reply_fn(void *ctx, int status, const char *type, const char *body,
    size_t len)
{
	struct reply	*r = ctx;

	r->calls++;
	r->status = status;
	snprintf(r->type, sizeof r->type, "%s", type);
	free(r->body);
	r->body = strndup(body, len);
	json_object_put(r->json);
	r->json = strncmp(type, "application/json", 16) == 0 ?
	    json_tokener_parse(r->body) : NULL;
}

static const char *
rstr(const char *key)
{
	json_object	*v;

	ck_assert_ptr_nonnull(rep.json);
	if (!json_object_object_get_ex(rep.json, key, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

static void
setup(void)
{
	static uid_t	alice[] = { ALICE };

	unit_client_setup();
	log_set_level(LOG_ERR);
	cc_open = unit_conf("open");
	cc_alice = unit_conf("alice");
	cc_alice->allow_users = (char *)"alice";
	cc_alice->allow_uids = alice;
	cc_alice->n_allow_uids = 1;
	clients[0] = client_new(NULL, NULL, cc_open, NULL, NULL);
	clients[1] = client_new(NULL, NULL, cc_alice, NULL, NULL);
	unit_answer_token("tok-open", 600);
	unit_answer_token("tok-alice", 600);
	api = api_new(SELF_UID);
	api_set_clients(api, clients, 2);
	memset(&rep, 0, sizeof rep);
}

static void
teardown(void)
{
	client_free(clients[0]);
	client_free(clients[1]);
	api_free(api);
	cc_alice->allow_users = cc_alice->allow_groups = NULL;
	cc_alice->allow_uids = NULL;
	cc_alice->allow_gids = NULL;
	unit_conf_free(cc_open);
	unit_conf_free(cc_alice);
	free(rep.body);
	json_object_put(rep.json);
	unit_client_teardown();
}

/* Sends a request as uid; the answer lands in rep. */
static void
send_as(uid_t uid, enum api_method m, const char *path, const char *query,
    const char *body)
{
	rep.calls = 0;
	memset(&req, 0, sizeof req);
	req.method = m;
	req.path = path;
	req.query = query;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.peer.pid = 4242;
	req.peer.uid = uid;
	req.peer.gid = uid;
	req.reply = reply_fn;
	req.ctx = &rep;
	api_handle(api, &req);
}

START_TEST(test_unknown_route)
{
	send_as(ALICE, API_GET, "/v2/clients", NULL, NULL);
	ck_assert_int_eq(rep.status, 404);
	ck_assert_str_eq(rstr("error"), "not_found");
	send_as(ALICE, API_GET, "/v1/clients/open/token/x", NULL, NULL);
	ck_assert_int_eq(rep.status, 404);
}
END_TEST

START_TEST(test_methods)
{
	send_as(ALICE, API_POST, "/v1/clients/open/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 405);
	ck_assert_str_eq(rstr("error"), "bad_request");
	send_as(ALICE, API_GET, "/v1/clients/open/refresh", NULL, NULL);
	ck_assert_int_eq(rep.status, 405);
	send_as(ALICE, API_OTHER, "/v1/health", NULL, NULL);
	ck_assert_int_eq(rep.status, 405);
	ck_assert_int_eq(unit_fetch.n, 2);
}
END_TEST

START_TEST(test_unknown_and_bad_client)
{
	send_as(ALICE, API_GET, "/v1/clients/nope/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 404);
	ck_assert_str_eq(rstr("error"), "unknown_client");
	ck_assert_ptr_nonnull(strstr(rstr("message"), "'nope'"));
	send_as(ALICE, API_GET, "/v1/clients/nope", NULL, NULL);
	ck_assert_int_eq(rep.status, 404);
	send_as(ALICE, API_GET, "/v1/clients/b%24d/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 400);
	ck_assert_str_eq(rstr("error"), "bad_request");
}
END_TEST

START_TEST(test_token_json_and_text)
{
	json_object	*v;

	send_as(BOB, API_GET, "/v1/clients/open/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rep.type, "application/json");
	ck_assert_str_eq(rstr("client"), "open");
	ck_assert_str_eq(rstr("access_token"), "tok-open");
	ck_assert_str_eq(rstr("token_type"), "Bearer");
	ck_assert(json_object_object_get_ex(rep.json, "expires_in", &v));
	ck_assert_int_eq(json_object_get_int64(v), 600);
	ck_assert(json_object_object_get_ex(rep.json, "expires_at", &v));
	ck_assert_int_eq(json_object_get_int64(v), unit_wall_now / 1000 + 600);

	rep.calls = 0;
	memset(&req, 0, sizeof req);
	req.method = API_GET;
	req.path = "/v1/clients/open/token";
	req.want_text = 1;
	req.peer.uid = BOB;
	req.reply = reply_fn;
	req.ctx = &rep;
	api_handle(api, &req);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(rep.type, "text/plain"));
	ck_assert_str_eq(rep.body, "tok-open\n");
}
END_TEST

START_TEST(test_forbidden)
{
	send_as(BOB, API_GET, "/v1/clients/alice/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 403);
	ck_assert_str_eq(rstr("error"), "forbidden");
	ck_assert_ptr_null(strstr(rep.body, "tok-alice"));
	send_as(BOB, API_GET, "/v1/clients/alice", NULL, NULL);
	ck_assert_int_eq(rep.status, 403);
	send_as(BOB, API_POST, "/v1/clients/alice/refresh", NULL, NULL);
	ck_assert_int_eq(rep.status, 403);
	ck_assert_int_eq(unit_fetch.n, 2);
	/* Allowed: the listed user, root, and the daemon's own user. */
	send_as(ALICE, API_GET, "/v1/clients/alice/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-alice");
	send_as(0, API_GET, "/v1/clients/alice/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	send_as(SELF_UID, API_GET, "/v1/clients/alice/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
}
END_TEST

START_TEST(test_forbidden_by_group)
{
	static gid_t	groups[] = { ALICE_GROUP };
	gid_t		supp[] = { 5, ALICE_GROUP };

	cc_alice->allow_groups = (char *)"alices";
	cc_alice->allow_gids = groups;
	cc_alice->n_allow_gids = 1;
	send_as(BOB, API_GET, "/v1/clients/alice/token", NULL, NULL);
	ck_assert_int_eq(rep.status, 403);
	rep.calls = 0;
	memset(&req, 0, sizeof req);
	req.method = API_GET;
	req.path = "/v1/clients/alice/token";
	req.peer.uid = BOB;
	req.peer.gid = BOB;
	req.peer.groups = supp;
	req.peer.ngroups = 2;
	req.reply = reply_fn;
	req.ctx = &rep;
	api_handle(api, &req);
	ck_assert_int_eq(rep.status, 200);
}
END_TEST

START_TEST(test_list_only_readable)
{
	json_object	*arr, *v;

	send_as(BOB, API_GET, "/v1/clients", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert(json_object_object_get_ex(rep.json, "clients", &arr));
	ck_assert_int_eq(json_object_array_length(arr), 1);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(arr, 0),
	    "name", &v));
	ck_assert_str_eq(json_object_get_string(v), "open");
	ck_assert_ptr_null(strstr(rep.body, "tok-"));
	send_as(ALICE, API_GET, "/v1/clients", NULL, NULL);
	ck_assert(json_object_object_get_ex(rep.json, "clients", &arr));
	ck_assert_int_eq(json_object_array_length(arr), 2);
	send_as(ALICE, API_GET, "/v1/clients/alice", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("state"), "valid");
	ck_assert_ptr_null(strstr(rep.body, "tok-"));
}
END_TEST

START_TEST(test_health)
{
	json_object	*bad;

	send_as(ALICE, API_GET, "/v1/health", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("status"), "ok");
	/* alice's token lapses: 503 naming it, for those who may read it. */
	client_free(clients[1]);
	clients[1] = client_new(NULL, NULL, cc_alice, NULL, NULL);
	unit_answer_status(503, -1);
	send_as(ALICE, API_GET, "/v1/health", NULL, NULL);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_str_eq(rstr("status"), "unavailable");
	ck_assert(json_object_object_get_ex(rep.json, "unavailable", &bad));
	ck_assert_int_eq(json_object_array_length(bad), 1);
	ck_assert_str_eq(json_object_get_string(
	    json_object_array_get_idx(bad, 0)), "alice");
	send_as(BOB, API_GET, "/v1/health", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
}
END_TEST

START_TEST(test_bad_min_valid)
{
	static const char *const bad[] = { "min_valid=x", "min_valid=-1",
	    "min_valid=86401", "min_valid=1.5", "min_valid=" };
	size_t	i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		send_as(BOB, API_GET, "/v1/clients/open/token", bad[i], NULL);
		ck_assert_msg(rep.status == 400, "%s: %d", bad[i], rep.status);
		ck_assert_str_eq(rstr("error"), "bad_request");
	}
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=100",
	    NULL);
	ck_assert_int_eq(rep.status, 200);
	/* More than the issuer's tokens live: 503 at once. */
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=700",
	    NULL);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_str_eq(rstr("error"), "unavailable");
	ck_assert_int_eq(unit_fetch.n, 2);
}
END_TEST

START_TEST(test_wait_then_answer)
{
	/* A min_valid the token cannot meet: the request waits for a fetch. */
	unit_advance(300000);
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=400", NULL);
	ck_assert_int_eq(rep.calls, 0);
	ck_assert_ptr_nonnull(req.cancel);
	unit_answer_token("tok-open-2", 600);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-open-2");
	/* And a wait that times out: 504 timeout. */
	unit_advance(300000);
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=400", NULL);
	ck_assert_int_eq(rep.calls, 0);
	unit_advance((cc_open->timeout + 2) * 1000);
	ck_assert_int_eq(rep.status, 504);
	ck_assert_str_eq(rstr("error"), "timeout");
}
END_TEST

START_TEST(test_wait_cancelled)
{
	unit_advance(300000);
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=400", NULL);
	ck_assert_ptr_nonnull(req.cancel);
	req.cancel(req.cancel_arg);	/* the caller hung up */
	unit_answer_token("tok-open-2", 600);
	unit_advance(60000);
	ck_assert_int_eq(rep.calls, 0);
}
END_TEST

START_TEST(test_refresh_bodies)
{
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL, "{");
	ck_assert_int_eq(rep.status, 400);
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL, "[1]");
	ck_assert_int_eq(rep.status, 400);
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL,
	    "{\"rejected_token\": 5}");
	ck_assert_int_eq(rep.status, 400);
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL,
	    "{\"rejected_token\": \"\"}");
	ck_assert_int_eq(rep.status, 400);
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL, "{} x");
	ck_assert_int_eq(rep.status, 400);
	ck_assert_int_eq(unit_fetch.n, 2);
	/* A token that is not the current one: the current, no request. */
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL,
	    "{\"rejected_token\": \"tok-old\"}\n");
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-open");
	ck_assert_int_eq(unit_fetch.n, 2);
	/* The current one: waits for its replacement, asked for at
	 * refresh_min_interval (10 s) after the token was obtained. */
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL,
	    "{\"rejected_token\": \"tok-open\"}");
	ck_assert_int_eq(rep.calls, 0);
	ck_assert_int_eq(unit_fetch.n, 2);
	unit_advance(10000);
	ck_assert_int_eq(rep.calls, 0);
	ck_assert_int_eq(unit_fetch.n, 3);
	unit_answer_token("tok-open-2", 600);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-open-2");
	/* A forced refresh right after a fetch: that fetch's token. */
	send_as(BOB, API_POST, "/v1/clients/open/refresh", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-open-2");
	ck_assert_int_eq(unit_fetch.n, 3);
}
END_TEST

START_TEST(test_reload_takes_access)
{
	static uid_t	nobody[] = { 4242 };

	unit_advance(300000);
	send_as(ALICE, API_GET, "/v1/clients/alice/token", "min_valid=400",
	    NULL);
	ck_assert_int_eq(rep.calls, 0);
	/* A reload while it waits takes alice's access. */
	cc_alice->allow_uids = nobody;
	client_set_conf(clients[1], cc_alice);
	unit_answer_token("tok-alice-2", 600);
	ck_assert_int_eq(rep.status, 403);
	ck_assert_ptr_null(strstr(rep.body, "tok-alice"));
}
END_TEST

START_TEST(test_reload_replaces_client)
{
	struct client	*n;

	unit_advance(300000);
	send_as(BOB, API_GET, "/v1/clients/open/token", "min_valid=400", NULL);
	ck_assert_int_eq(rep.calls, 0);
	/* A reload replaces the client while the request waits: the new
	 * client answers it, and the old one is gone (the answer must not
	 * touch it: this was a use-after-free). */
	n = client_new(NULL, NULL, cc_open, NULL, NULL);
	client_hand_over(clients[0], n);
	client_free(clients[0]);
	clients[0] = n;
	api_set_clients(api, clients, 2);
	ck_assert_int_eq(rep.calls, 0);
	unit_answer_token("tok-open-new", 600);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rstr("access_token"), "tok-open-new");
}
END_TEST

START_TEST(test_metrics)
{
	send_as(BOB, API_GET, "/metrics", NULL, NULL);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(rep.type, "text/plain"));
	ck_assert_ptr_nonnull(strstr(rep.body,
	    "crvs_tokend_token_servable{client=\"open\"} 1\n"));
	ck_assert_ptr_null(strstr(rep.body, "client=\"alice\""));
	ck_assert_ptr_nonnull(strstr(rep.body,
	    "crvs_tokend_refreshes_total{client=\"open\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(rep.body, "# TYPE "
	    "crvs_tokend_requests_total counter\n"));
	ck_assert_ptr_null(strstr(rep.body, "tok-"));
	send_as(ALICE, API_GET, "/metrics", NULL, NULL);
	ck_assert_ptr_nonnull(strstr(rep.body,
	    "crvs_tokend_token_servable{client=\"alice\"} 1\n"));
}
END_TEST

static Suite *
api_suite(void)
{
	Suite	*s = suite_create("api");
	TCase	*tc = tcase_create("api");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_route);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_unknown_and_bad_client);
	tcase_add_test(tc, test_token_json_and_text);
	tcase_add_test(tc, test_forbidden);
	tcase_add_test(tc, test_forbidden_by_group);
	tcase_add_test(tc, test_list_only_readable);
	tcase_add_test(tc, test_health);
	tcase_add_test(tc, test_bad_min_valid);
	tcase_add_test(tc, test_wait_then_answer);
	tcase_add_test(tc, test_wait_cancelled);
	tcase_add_test(tc, test_refresh_bodies);
	tcase_add_test(tc, test_reload_takes_access);
	tcase_add_test(tc, test_reload_replaces_client);
	tcase_add_test(tc, test_metrics);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(api_suite());
}
