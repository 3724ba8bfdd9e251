//! The environments' files folders: `BERTH_DATA/sites/<site id>/<environment>/`, made for
//! every driver (the development driver too, so FTP works without an engine).

use std::path::{Path, PathBuf};

/// The `sites/` folder under `BERTH_DATA`.
#[derive(Debug, Clone)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    pub fn new(data: &Path) -> Self {
        Self {
            root: data.join("sites"),
        }
    }

    /// The folder holding every environment of a site.
    pub fn site(&self, site: i64) -> PathBuf {
        self.root.join(site.to_string())
    }

    /// An environment's folder. Environment names are DNS labels (checked by the wizard);
    /// anything else is refused here too, so no name can reach outside the site's folder.
    pub fn environment(&self, site: i64, environment: &str) -> Result<PathBuf, String> {
        let safe = !environment.is_empty()
            && environment.len() <= 63
            && environment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if safe {
            Ok(self.site(site).join(environment))
        } else {
            Err(format!("the environment name {environment:?} cannot name a folder"))
        }
    }

    /// Makes the environment's folder; a new one gets an `index.html` naming the site. A
    /// folder already there is left as it is (its files are the customer's).
    pub async fn ensure_environment(&self, site: i64, environment: &str, hostname: &str) -> Result<PathBuf, String> {
        let folder = self.environment(site, environment)?;
        let fresh = !tokio::fs::try_exists(&folder).await.unwrap_or(false);
        tokio::fs::create_dir_all(&folder).await.map_err(|err| {
            tracing::error!(folder = %folder.display(), error = %err, "cannot make a files folder");
            "the site's files folder could not be made".to_owned()
        })?;
        if fresh {
            let index = folder.join("index.html");
            tokio::fs::write(&index, index_html(hostname, environment))
                .await
                .map_err(|err| {
                    tracing::error!(file = %index.display(), error = %err, "cannot write index.html");
                    "the site's first page could not be written".to_owned()
                })?;
        }
        Ok(folder)
    }

    /// Removes every file of the site; a site with no folder is already removed.
    pub async fn remove_site(&self, site: i64) -> Result<(), String> {
        match tokio::fs::remove_dir_all(self.site(site)).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => {
                tracing::error!(site, error = %err, "cannot remove a site's files");
                Err("the site's files could not be removed".to_owned())
            }
        }
    }
}

/// The page a new environment starts with.
pub fn index_html(hostname: &str, environment: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (hostname, environment) = (escape(hostname), escape(environment));
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{hostname}</title></head>\n\
         <body>\n<h1>{hostname}</h1>\n<p>This is the {environment} environment of {hostname}, hosted on Berth. \
         Upload your site's files to replace this page.</p>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_stay_inside_the_site() {
        let files = Files::new(Path::new("/data"));
        assert_eq!(
            files.environment(7, "production").unwrap(),
            Path::new("/data/sites/7/production")
        );
        for bad in ["", "..", "a/b", "A", "prod.", "/etc", &"a".repeat(64)] {
            assert!(files.environment(7, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_page_names_the_site() {
        let page = index_html("<shop>.example", "production");
        assert!(page.contains("<h1>&lt;shop&gt;.example</h1>"));
        assert!(page.contains("production environment"));
    }

    #[tokio::test]
    async fn a_folder_is_made_once_and_kept() {
        let data = std::env::temp_dir().join(format!("berth-files-{}", std::process::id()));
        let files = Files::new(&data);
        let folder = files.ensure_environment(3, "staging", "a.example").await.unwrap();
        let index = folder.join("index.html");
        assert!(std::fs::read_to_string(&index).unwrap().contains("a.example"));
        std::fs::write(&index, "mine").unwrap();
        files.ensure_environment(3, "staging", "a.example").await.unwrap();
        assert_eq!(std::fs::read_to_string(&index).unwrap(), "mine");
        files.remove_site(3).await.unwrap();
        assert!(!folder.exists());
        files.remove_site(3).await.unwrap();
        let _ = std::fs::remove_dir_all(&data);
    }
}
