//! Searching a shared store: each leg is one SQL query (full-text ranking,
//! pgvector's nearest neighbours), fused here with the same code as a
//! folder index's legs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use semsearch_indexer::pg::{PgIndex, Urls};
use semsearch_indexer::{schema, DocEntry, PassageRef};
use semsearch_models::Embedder;
use tantivy::tokenizer::TextAnalyzer;

use crate::compare::{Comparison, Ranking};
use crate::config::{Mode, SearchConfig};
use crate::error::{Result, SearchError};
use crate::lexical::Lexical;
use crate::query::Query;
use crate::result::{present_hit, Explain, SearchResult};
use crate::store::Store;
use crate::{fuse_legs, Hit};

/// `ts_rank`'s normalisation: 1 divides the rank by 1 + ln(document
/// length). Chosen on SciFact's train split (nDCG@10, EVALUATION.md
/// "Postgres store"): `ts_rank` 0.6012 (none), **0.6166 (1)**, 0.3546 (2),
/// 0.4163 (8), 0.6104 (16); `ts_rank_cd` (cover density) at best 0.4240,
/// as OR-ed single lexemes make poor covers. (Measured with the whole
/// query in one `ts_rank`; the lexical leg now weighs each lexeme's
/// `ts_rank` by its idf, which took train to 0.6885.)
pub const TS_RANK_NORMALIZATION: i32 = 1;

/// pgvector's `hnsw.ef_search` by default (pgvector's own is 40): the
/// candidate list of the HNSW scan, raised to the rows asked for.
pub const DEFAULT_EF_SEARCH: usize = 100;

/// A shared store opened for searching, with its model.
pub struct PgSearcher {
    index: PgIndex,
    embedder: Arc<Embedder>,
    analyzer: TextAnalyzer,
    ef_search: usize,
}

impl PgSearcher {
    /// Open the store at `urls` and load the model that built it.
    pub fn open(urls: &Urls) -> Result<Self> {
        let index = PgIndex::open(urls)?;
        let model = index.model();
        let embedder = Embedder::load_with(&model.spec(), model.precision)?;
        Self::with_embedder(index, embedder)
    }

    /// An opened store with an already loaded model (checked to be the
    /// store's own).
    pub fn with_embedder(index: PgIndex, embedder: impl Into<Arc<Embedder>>) -> Result<Self> {
        let embedder = embedder.into();
        let manifest = index.manifest();
        manifest.check_model(&index.label(), embedder.info())?;
        Ok(PgSearcher {
            analyzer: schema::analyzer(&manifest.analyzer),
            index,
            embedder,
            ef_search: DEFAULT_EF_SEARCH,
        })
    }

    /// The store searched.
    pub fn index(&self) -> &PgIndex {
        &self.index
    }

    /// Set pgvector's `hnsw.ef_search` (recall against speed).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef;
    }

    /// What a store cannot do yet, named before anything runs. Feedback
    /// and collapse, on by default, are left out (one ranking, no folding).
    fn check(&self, cfg: &SearchConfig) -> Result<()> {
        let unsupported = |what: &str| {
            Err(SearchError::Unsupported {
                index: self.index.label(),
                what: what.to_string(),
            })
        };
        if cfg.mode != Mode::Semantic && cfg.lexical != Lexical::Bm25 {
            return unsupported(&format!("--lexical {}", cfg.lexical));
        }
        if !cfg.paths.is_empty() {
            return unsupported("--path");
        }
        if !cfg.arithmetic.is_empty() {
            return unsupported("--plus and --minus");
        }
        Ok(())
    }

    /// The semantic leg: documents by their best passage.
    fn semantic_leg(
        &self,
        vector: &[f32],
        n: usize,
        exact: bool,
    ) -> Result<Vec<(usize, f32, PassageRef)>> {
        // Documents have several passages: three passages per document
        // wanted, as for a folder index.
        let passages = self.index.nearest(vector, n * 3, self.ef_search, exact)?;
        let mut seen = HashSet::new();
        Ok(passages
            .into_iter()
            .filter(|p| seen.insert(p.doc))
            .take(n)
            .map(|p| {
                let doc = p.doc as usize;
                let ordinal = p.ordinal;
                (doc, p.similarity, PassageRef { doc, ordinal })
            })
            .collect())
    }

    fn rank(&self, query: &str, vector: Option<&[f32]>, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        self.rank_with(query, cfg, || Ok(vector.map(<[f32]>::to_vec)))
    }

    /// Rank `query`; `vector` gives its vector (embedding it, or one
    /// given). The legs are two statements, on two readers when there
    /// are: they run side by side, the embedding before the semantic one.
    fn rank_with(
        &self,
        query: &str,
        cfg: &SearchConfig,
        vector: impl FnOnce() -> Result<Option<Vec<f32>>> + Send,
    ) -> Result<Vec<Hit>> {
        if query.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        self.check(cfg)?;
        let n = cfg.candidates.max(cfg.k);
        let (lex, sem) = rayon::join(
            || -> Result<Vec<(usize, f32)>> {
                if cfg.mode == Mode::Semantic {
                    return Ok(Vec::new());
                }
                let found = self.index.lexical(query, n, TS_RANK_NORMALIZATION)?;
                Ok(found.into_iter().map(|(d, s)| (d as usize, s)).collect())
            },
            || match (cfg.mode, vector()?) {
                (Mode::Lexical, _) | (_, None) => Ok(Vec::new()),
                (_, Some(v)) => self.semantic_leg(&v, n, cfg.exact),
            },
        );
        let (lex, sem) = (lex?, sem?);
        let (fused, best) = fuse_legs(&sem, &lex, cfg);
        let kept: Vec<_> = fused
            .into_iter()
            .filter(|f| cfg.min_score.is_none_or(|m| f.score >= m))
            .take(cfg.k)
            .collect();
        let rows: Vec<i64> = kept.iter().map(|f| f.doc as i64).collect();
        let ids = self.index.ids(&rows)?;
        Ok(kept
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| {
                Some(Hit {
                    rank: i + 1,
                    doc: f.doc,
                    id: ids.get(&(f.doc as i64))?.clone(),
                    score: f.score,
                    lexical: f.lexical,
                    semantic: f.semantic,
                    passage: best.get(&f.doc).copied(),
                    duplicates: Vec::new(),
                })
            })
            .collect())
    }

    fn present(
        &self,
        query: &Query,
        hits: Vec<Hit>,
        explain: Option<Explain>,
    ) -> Result<Vec<SearchResult>> {
        let rows: Vec<i64> = hits.iter().map(|h| h.doc as i64).collect();
        let docs: HashMap<i64, _> = self
            .index
            .documents(&rows)?
            .into_iter()
            .map(|d| (d.doc, d))
            .collect();
        let terms = query.term_set();
        let mut analyzer = self.analyzer.clone();
        Ok(hits
            .into_iter()
            .filter_map(|hit| {
                let d = docs.get(&(hit.doc as i64))?;
                Some(present_hit(
                    &mut analyzer,
                    hit,
                    &d.entry,
                    &d.text,
                    &terms,
                    explain,
                ))
            })
            .collect())
    }

    fn vector_for(&self, query: &str, cfg: &SearchConfig) -> Result<Option<Vec<f32>>> {
        Ok(match cfg.mode {
            Mode::Lexical => None,
            _ => Some(self.embedder.embed_one(query)?),
        })
    }
}

impl Store for PgSearcher {
    fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    fn label(&self) -> PathBuf {
        self.index.label()
    }

    fn results(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<SearchResult>> {
        let hits = self.rank_with(query, cfg, || self.vector_for(query, cfg))?;
        let analysed = Query::analysed(&mut self.analyzer.clone(), query);
        self.present(&analysed, hits, Some(Explain::of(cfg)))
    }

    fn search(&self, query: &str, cfg: &SearchConfig) -> Result<Vec<Hit>> {
        self.rank_with(query, cfg, || self.vector_for(query, cfg))
    }

    fn search_with_vector(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        cfg: &SearchConfig,
    ) -> Result<Vec<Hit>> {
        self.rank(query, vector, cfg)
    }

    /// Three rankings: Postgres full-text (`fts`), semantic and hybrid;
    /// TF-IDF and LSA need a folder index's term statistics.
    fn compare(&self, query: &str, base: &SearchConfig) -> Result<Comparison> {
        let vector = self.embedder.embed_one(query)?;
        let runs = [
            ("fts", Mode::Lexical),
            ("semantic", Mode::Semantic),
            ("hybrid", Mode::Hybrid),
        ];
        let mut rankings = Vec::new();
        let mut docs = Vec::new();
        for (name, mode) in runs {
            let cfg = SearchConfig {
                mode,
                lexical: Lexical::Bm25,
                ..base.clone()
            };
            let hits = self.rank(query, Some(&vector), &cfg)?;
            docs.extend(hits.iter().map(|h| h.doc as i64));
            rankings.push(Ranking {
                name,
                ids: hits.into_iter().map(|h| h.id).collect(),
            });
        }
        docs.sort_unstable();
        docs.dedup();
        let titles: BTreeMap<String, String> = self
            .index
            .documents(&docs)?
            .into_iter()
            .map(|d| (d.id, d.entry.title))
            .collect();
        Ok(Comparison::new(query, base.k, rankings, titles))
    }

    fn position(&self, id: &str) -> Result<Option<usize>> {
        Ok(self.index.position(id)?.map(|d| d as usize))
    }

    fn find_document(&self, path_or_id: &str) -> Result<Option<usize>> {
        Ok(self.index.find_document(path_or_id)?.map(|d| d as usize))
    }

    fn document(&self, doc: usize) -> Result<Option<(String, DocEntry, String)>> {
        let found = self.index.documents(&[doc as i64])?.into_iter().next();
        Ok(found.map(|d| (d.id, d.entry, d.text)))
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn similar_results(&self, doc: usize, k: usize) -> Result<Vec<SearchResult>> {
        let Some(v) = self.index.doc_vector(doc as i64)? else {
            return Ok(Vec::new());
        };
        let cfg = SearchConfig {
            mode: Mode::Semantic,
            k: k + 1,
            candidates: k + 1,
            ..SearchConfig::default()
        };
        let mut hits: Vec<Hit> = self
            .rank("similar", Some(&v), &cfg)?
            .into_iter()
            .filter(|h| h.doc != doc)
            .take(k)
            .collect();
        for (i, h) in hits.iter_mut().enumerate() {
            h.rank = i + 1;
        }
        self.present(&Query::none(), hits, None)
    }
}
