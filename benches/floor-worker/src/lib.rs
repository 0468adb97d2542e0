//! The smallest `worker`-crate worker: every request is refused with a 403, as chartgate's
//! cold-start request is. Nothing else runs.

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let _path = req.path();
    Response::error("forbidden", 403)
}
