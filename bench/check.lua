-- wrk script for bench/run.py: one request shape per run, keep-alive.
--   LB_METHOD (POST/GET), LB_BODY (the JSON body, may be empty), LB_TOKEN (bearer, optional),
--   LB_CLOSE=1: "Connection: close", so every request opens a new connection (and over
--   HTTPS does a full TLS handshake), as PAM hosts do: one connection per login.
wrk.method = os.getenv("LB_METHOD") or "GET"
local body = os.getenv("LB_BODY")
if body and #body > 0 then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local tok = os.getenv("LB_TOKEN")
if tok and #tok > 0 then
  wrk.headers["Authorization"] = "Bearer " .. tok
end
if os.getenv("LB_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end
