//! What `ptenv ls` lists: ptenv's containers on the engine (this machine's, or `--host`'s).
//! Without `all_users` another user's environments are left out on this machine (an engine
//! reached with `--host` has users of its own, so all are shown there).

use super::Listed;
use crate::context::Ctx;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::ownership::{owner, Who};

/// The containers `ptenv ls` shows, and how many of other users it left out.
pub struct Listing {
    pub containers: Vec<Listed>,
    pub hidden: usize,
}

/// Lists the engine's ptenv containers, with why the idle watcher stopped those it stopped.
pub fn gather(ctx: &Ctx, all_users: bool) -> Result<Listing> {
    let me = crate::project::user();
    let who = Who {
        me: &me,
        my_uid: rustix::process::geteuid().as_raw(),
        named: &[],
    };
    block_on(async {
        let engine = Engine::connect().await?;
        let mut list = engine.list(None).await?;
        let hidden = if all_users || ctx.machine.is_remote() {
            0
        } else {
            let before = list.len();
            list.retain(|c| who.may_remove(owner(&c.labels).as_deref()));
            before - list.len()
        };
        let mut containers = Vec::with_capacity(list.len());
        for c in list {
            // Only stopped containers that had an idle watcher: why they stopped is in their
            // output.
            let watched = c.state == "exited" && !c.label(crate::idle::LABEL).is_empty();
            let stopped_idle = match watched {
                true => engine
                    .log_tail(&c.id, 20)
                    .await
                    .ok()
                    .and_then(|tail| crate::idle::stopped_idle(&tail)),
                false => None,
            };
            containers.push(Listed {
                found: c,
                stopped_idle,
            });
        }
        Ok(Listing { containers, hidden })
    })
}
