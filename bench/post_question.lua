-- POST /v1/question/new as form data; the session comes from $KEFU_BENCH_SESSION.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "session=" .. os.getenv("KEFU_BENCH_SESSION") .. "&title=bench&label=%5B%22bench%22%5D"
