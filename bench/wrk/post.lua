-- wrk: POST the JSON body in the BODY environment variable (bench/serve-vs-nodered.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
