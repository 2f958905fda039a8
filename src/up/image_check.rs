//! After the pull, before anything starts: what the image says about itself, judged for this
//! machine by the same rules as the catalog's lines (`select::judge_image`).

use super::Up;
use crate::engine::container::Unfinished;
use crate::engine::Engine;
use crate::error::Result;
use crate::select;

impl Up {
    /// An image the catalog does not describe is judged from its own facts every time (cached
    /// by image ID, so only the first `up` runs the probe); a catalog image was judged by the
    /// selection, and the probe confirms its row the first time it is on the machine. An image
    /// that cannot run is refused, unless `--force`.
    pub(super) async fn check_image(
        &self,
        engine: &Engine,
        id: &str,
        pending: &Unfinished,
    ) -> Result<()> {
        let p = &self.printer;
        let image = &self.choice.image;
        let probed = match crate::probe::facts_of(engine, image, Some(id), Some(pending), p).await {
            Ok(probed) => probed,
            // The checker failing is no reason to stop the environment.
            Err(e) => {
                p.warn(format!(
                    "could not read what {image} contains, so it was not checked against this machine: {}",
                    e.message
                ));
                return Ok(());
            }
        };
        let v = select::judge_image(
            &self.profile,
            image,
            self.choice.line,
            &probed.facts,
            &self.facts,
        )?;
        if self.choice.line.is_none() {
            for r in &v.reasons {
                p.detail(r);
            }
            for w in &v.warnings {
                p.warn(w);
            }
        } else if !probed.cached {
            match &v.disagreement {
                Some(d) => p.warn(d),
                None => p.detail(format!(
                    "{image} agrees with ptenv's catalog: {}",
                    probed.facts.summary()
                )),
            }
        }
        if let Some(e) = v.refusal(image) {
            if !self.force {
                return Err(e);
            }
            p.warn(format!("{}; starting it anyway (--force)", e.message));
        }
        Ok(())
    }
}
