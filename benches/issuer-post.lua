-- wrk: the ChartMuseum example's token request against `chartgate serve` (dev defaults).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer dev-secret"
