//! The model catalog: which model names exist and which [`ModelTier`] each belongs to. The
//! default catalog holds the three canonical models; operators extend it in configuration.

use std::collections::BTreeMap;

use crate::error::DomainError;
use crate::plan::ModelTier;

/// Model names mapped to their tiers.
///
/// Names match exactly and case-sensitively. The [`Default`] catalog maps `gpt-3.5-turbo`,
/// `gpt-4` and `gpt-4-turbo` to the tiers of the same name.
///
/// ```
/// use doztra_domain::{ModelCatalog, ModelTier};
///
/// let catalog = ModelCatalog::with_extensions("gpt-4o=gpt-4, claude-3-opus=gpt-4-turbo")?;
/// assert_eq!(catalog.resolve("gpt-4o")?, ModelTier::Gpt4);
/// assert!(!catalog.is_allowed("claude-3-opus", ModelTier::Gpt4)?);
/// assert_eq!(catalog.best_allowed(ModelTier::Gpt4), Some("gpt-4"));
/// assert_eq!(catalog.resolve("gpt-5").unwrap_err().code(), "unknown_model");
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCatalog {
    models: BTreeMap<String, ModelTier>,
}

impl Default for ModelCatalog {
    fn default() -> Self {
        Self {
            models: ModelTier::ALL
                .into_iter()
                .map(|tier| (tier.as_str().to_owned(), tier))
                .collect(),
        }
    }
}

impl ModelCatalog {
    /// The default catalog extended by configuration text such as
    /// `"gpt-4o=gpt-4, claude-3-opus=gpt-4-turbo"`.
    ///
    /// Entries are separated by commas; whitespace around entries, names and tiers is ignored,
    /// and empty entries (empty text, a trailing comma) are skipped. A later entry may re-map a
    /// name that already exists, including a default one. An entry without `=`, with an empty
    /// name, with whitespace inside the name, or with an unknown tier is an
    /// [`InvalidCatalogEntry`](DomainError::InvalidCatalogEntry) naming that entry.
    pub fn with_extensions(text: &str) -> Result<Self, DomainError> {
        let mut catalog = Self::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, tier) = parse_entry(entry)?;
            catalog.models.insert(name.to_owned(), tier);
        }
        Ok(catalog)
    }

    /// The tier of `model`, if the catalog knows it.
    pub fn tier_of(&self, model: &str) -> Option<ModelTier> {
        self.models.get(model).copied()
    }

    /// The tier of `model`, or [`UnknownModel`](DomainError::UnknownModel) listing the known
    /// names in name order.
    pub fn resolve(&self, model: &str) -> Result<ModelTier, DomainError> {
        self.tier_of(model)
            .ok_or_else(|| DomainError::UnknownModel {
                name: model.to_owned(),
                known: self.models.keys().cloned().collect(),
            })
    }

    /// Every model with its tier, sorted by tier (lowest first), then by name.
    pub fn models(&self) -> impl Iterator<Item = (&str, ModelTier)> {
        let mut models: Vec<(&str, ModelTier)> = self
            .models
            .iter()
            .map(|(name, tier)| (name.as_str(), *tier))
            .collect();
        models.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        models.into_iter()
    }

    /// Whether the catalog knows `model`.
    pub fn contains(&self, model: &str) -> bool {
        self.models.contains_key(model)
    }

    /// How many models the catalog holds.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the catalog is empty (never true for a catalog built by this crate).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The best model a max tier allows, e.g. for a default model preference.
    ///
    /// Picks the highest tier at or below `max` that has any model; among that tier's models it
    /// prefers the canonical name ([`ModelTier::as_str`]) and otherwise takes the first by name.
    /// `None` only if no model is at or below `max`.
    ///
    /// ```
    /// use doztra_domain::{ModelCatalog, ModelTier};
    ///
    /// let catalog = ModelCatalog::default();
    /// assert_eq!(catalog.best_allowed(ModelTier::Gpt35Turbo), Some("gpt-3.5-turbo"));
    /// assert_eq!(catalog.best_allowed(ModelTier::Gpt4Turbo), Some("gpt-4-turbo"));
    /// ```
    pub fn best_allowed(&self, max: ModelTier) -> Option<&str> {
        let best_tier = self
            .models
            .values()
            .copied()
            .filter(|t| t.within(max))
            .max()?;
        let canonical = best_tier.as_str();
        if self.models.get(canonical) == Some(&best_tier) {
            return Some(canonical);
        }
        self.models
            .iter()
            .find(|(_, tier)| **tier == best_tier)
            .map(|(name, _)| name.as_str())
    }

    /// Whether `model` may be used under max tier `max`; an unknown model is an
    /// [`UnknownModel`](DomainError::UnknownModel) error.
    pub fn is_allowed(&self, model: &str, max: ModelTier) -> Result<bool, DomainError> {
        Ok(self.resolve(model)?.within(max))
    }
}

fn parse_entry(entry: &str) -> Result<(&str, ModelTier), DomainError> {
    let invalid = |reason: String| DomainError::InvalidCatalogEntry {
        entry: entry.to_owned(),
        reason,
    };
    let Some((name, tier)) = entry.split_once('=') else {
        return Err(invalid("expected 'model=tier'".to_owned()));
    };
    let (name, tier) = (name.trim(), tier.trim());
    if name.is_empty() {
        return Err(invalid("the model name is empty".to_owned()));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(invalid("the model name contains whitespace".to_owned()));
    }
    let tier = ModelTier::parse(tier).map_err(|_| {
        invalid(format!(
            "unknown tier '{tier}'; expected 'gpt-3.5-turbo', 'gpt-4' or 'gpt-4-turbo'"
        ))
    })?;
    Ok((name, tier))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn names(catalog: &ModelCatalog) -> Vec<(&str, ModelTier)> {
        catalog.models().collect()
    }

    #[test]
    fn the_default_catalog_holds_the_three_canonical_models() {
        let catalog = ModelCatalog::default();
        assert_eq!(
            names(&catalog),
            vec![
                ("gpt-3.5-turbo", ModelTier::Gpt35Turbo),
                ("gpt-4", ModelTier::Gpt4),
                ("gpt-4-turbo", ModelTier::Gpt4Turbo),
            ]
        );
        assert_eq!(catalog.len(), 3);
        assert!(!catalog.is_empty());
    }

    #[test]
    fn empty_text_and_stray_commas_give_the_default_catalog() {
        for text in ["", "   ", ",", " , ,"] {
            assert_eq!(
                ModelCatalog::with_extensions(text).unwrap(),
                ModelCatalog::default(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn extensions_add_models_and_ignore_surrounding_whitespace() {
        let catalog =
            ModelCatalog::with_extensions("  gpt-4o = gpt-4 ,claude-3-opus=gpt-4-turbo,\n")
                .unwrap();
        assert_eq!(catalog.tier_of("gpt-4o"), Some(ModelTier::Gpt4));
        assert_eq!(catalog.tier_of("claude-3-opus"), Some(ModelTier::Gpt4Turbo));
        assert_eq!(catalog.len(), 5);
        assert_eq!(
            names(&catalog),
            vec![
                ("gpt-3.5-turbo", ModelTier::Gpt35Turbo),
                ("gpt-4", ModelTier::Gpt4),
                ("gpt-4o", ModelTier::Gpt4),
                ("claude-3-opus", ModelTier::Gpt4Turbo),
                ("gpt-4-turbo", ModelTier::Gpt4Turbo),
            ]
        );
    }

    #[test]
    fn later_entries_re_map_existing_names() {
        let catalog =
            ModelCatalog::with_extensions("x=gpt-4, x=gpt-3.5-turbo, gpt-4=gpt-4-turbo").unwrap();
        assert_eq!(catalog.tier_of("x"), Some(ModelTier::Gpt35Turbo));
        assert_eq!(catalog.tier_of("gpt-4"), Some(ModelTier::Gpt4Turbo));
    }

    #[test]
    fn each_bad_entry_form_is_rejected_naming_the_entry() {
        for (text, entry) in [
            ("gpt-4o", "gpt-4o"),
            ("ok=gpt-4, no-equals-sign ,", "no-equals-sign"),
            ("=gpt-4", "=gpt-4"),
            ("  = gpt-4", "= gpt-4"),
            ("gpt 4o=gpt-4", "gpt 4o=gpt-4"),
            ("gpt-4o=gpt-5", "gpt-4o=gpt-5"),
            ("gpt-4o=", "gpt-4o="),
            ("gpt-4o=GPT-4", "gpt-4o=GPT-4"),
            ("a=gpt-4=gpt-4", "a=gpt-4=gpt-4"),
        ] {
            let err = ModelCatalog::with_extensions(text).unwrap_err();
            match &err {
                DomainError::InvalidCatalogEntry { entry: got, .. } => {
                    assert_eq!(got, entry, "{text:?}");
                }
                other => panic!("{text:?}: unexpected {other:?}"),
            }
            assert!(err.to_string().contains(entry), "{err}");
            assert_eq!(err.field(), None);
        }
    }

    #[test]
    fn lookups_are_exact_and_case_sensitive() {
        let catalog = ModelCatalog::default();
        assert_eq!(catalog.tier_of("gpt-4"), Some(ModelTier::Gpt4));
        assert_eq!(catalog.tier_of("GPT-4"), None);
        assert_eq!(catalog.tier_of(" gpt-4"), None);
        assert!(catalog.contains("gpt-4-turbo"));
    }

    #[test]
    fn resolve_lists_known_models_sorted_by_name() {
        let catalog = ModelCatalog::with_extensions("claude-3-opus=gpt-4-turbo").unwrap();
        assert_eq!(
            catalog.resolve("gpt-5"),
            Err(DomainError::UnknownModel {
                name: "gpt-5".into(),
                known: vec![
                    "claude-3-opus".into(),
                    "gpt-3.5-turbo".into(),
                    "gpt-4".into(),
                    "gpt-4-turbo".into(),
                ],
            })
        );
        assert_eq!(catalog.resolve("gpt-4"), Ok(ModelTier::Gpt4));
    }

    #[test]
    fn is_allowed_compares_tiers_and_reports_unknown_models() {
        let catalog = ModelCatalog::with_extensions("gpt-4o=gpt-4").unwrap();
        assert_eq!(catalog.is_allowed("gpt-4o", ModelTier::Gpt4), Ok(true));
        assert_eq!(
            catalog.is_allowed("gpt-4o", ModelTier::Gpt35Turbo),
            Ok(false)
        );
        assert_eq!(
            catalog.is_allowed("gpt-3.5-turbo", ModelTier::Gpt35Turbo),
            Ok(true)
        );
        assert_eq!(
            catalog
                .is_allowed("nope", ModelTier::Gpt4Turbo)
                .unwrap_err()
                .code(),
            "unknown_model"
        );
    }

    #[test]
    fn best_allowed_prefers_the_highest_tier_then_the_canonical_name() {
        let catalog = ModelCatalog::with_extensions("aaa=gpt-4, zzz=gpt-4").unwrap();
        assert_eq!(catalog.best_allowed(ModelTier::Gpt4), Some("gpt-4"));
        assert_eq!(
            catalog.best_allowed(ModelTier::Gpt4Turbo),
            Some("gpt-4-turbo")
        );
        assert_eq!(
            catalog.best_allowed(ModelTier::Gpt35Turbo),
            Some("gpt-3.5-turbo")
        );
    }

    #[test]
    fn best_allowed_falls_back_to_the_first_name_when_the_canonical_one_moved() {
        // gpt-4 re-mapped away, so the gpt-4 tier has only aliases left.
        let catalog =
            ModelCatalog::with_extensions("gpt-4=gpt-4-turbo, zeta=gpt-4, alpha=gpt-4").unwrap();
        assert_eq!(catalog.best_allowed(ModelTier::Gpt4), Some("alpha"));
    }

    #[test]
    fn best_allowed_skips_empty_tiers_and_can_find_nothing() {
        let catalog = ModelCatalog::with_extensions("gpt-4=gpt-4-turbo").unwrap();
        // No model left at the gpt-4 tier: the best under gpt-4 is the 3.5 one.
        assert_eq!(catalog.best_allowed(ModelTier::Gpt4), Some("gpt-3.5-turbo"));
        let none = ModelCatalog::with_extensions("gpt-3.5-turbo=gpt-4").unwrap();
        assert_eq!(none.best_allowed(ModelTier::Gpt35Turbo), None);
    }
}
