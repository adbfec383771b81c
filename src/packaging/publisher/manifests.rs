// SPDX-License-Identifier: MPL-2.0
//! Writing the manifests: HLS media and multivariant playlists, the DASH MPD, the storage
//! indexes.

use super::super::SegmentFact;
use super::super::dash::MpdKind;
use super::super::hls::{AudioRendition, HlsWindow, MultivariantPlaylist, PlaylistType, Variant};

use super::*;

impl<D: AsRef<[u8]>> Publisher<D> {
    pub(super) fn write_manifests(
        &mut self,
        k: i64,
        ended: bool,
    ) -> Result<Vec<String>, PublishError> {
        let mut names = Vec::new();
        if self.config.hls {
            // Every track with something listed has a playlist to write.
            let mut version = None;
            for video in &self.video {
                if let Some(hls) = &video.hls
                    && hls.last_k().is_some()
                {
                    let playlist = hls
                        .playlist_at(k)
                        .map_err(|e| PublishError::Input(e.to_string()))?;
                    let name = playlist_name(video.id());
                    version = version.or(Some(playlist.version()));
                    self.destination
                        .write(&name, playlist.render().as_bytes())?;
                    names.push(name);
                }
            }
            for audio in &self.audio {
                if let Some(hls) = &audio.hls
                    && hls.last_k().is_some()
                {
                    let playlist = hls
                        .playlist_at(k)
                        .map_err(|e| PublishError::Input(e.to_string()))?;
                    let name = audio.playlist_name();
                    self.destination
                        .write(&name, playlist.render().as_bytes())?;
                    names.push(name);
                }
            }
            if let Some(version) = version
                && let Some(name) = self.write_multivariant(version)?
            {
                names.push(name);
            }
        }
        if let Some(dash) = &self.dash
            && !self.dash_facts.is_empty()
        {
            let kind = if ended || self.config.playlist_type == PlaylistType::Vod {
                MpdKind::Static
            } else {
                MpdKind::Dynamic
            };
            let facts: Vec<SegmentFact> = self.dash_facts.iter().copied().collect();
            let mpd = dash
                .mpd(&facts, k, kind)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            self.destination.write(MPD, mpd.render().as_bytes())?;
            names.push(MPD.to_owned());
        }
        for files in self
            .video
            .iter()
            .map(|v| &v.files)
            .chain(self.audio.iter().map(|a| &a.files))
        {
            if let Some(storage) = &files.storage {
                self.destination
                    .write(&files.storage_name, storage.render().as_bytes())?;
                names.push(files.storage_name.clone());
            }
        }
        Ok(names)
    }

    /// The multivariant playlist, after the media playlists it names: the renditions and
    /// audio tracks with a playlist of their own (something listed). Written when that set
    /// changes.
    fn write_multivariant(&mut self, version: u8) -> Result<Option<String>, PublishError> {
        let listed = |hls: &Option<HlsWindow>| hls.as_ref().is_some_and(|h| h.last_k().is_some());
        let videos: Vec<&VideoOutput<D>> = self.video.iter().filter(|v| listed(&v.hls)).collect();
        let with_playlist: Vec<&AudioOutput<D>> =
            self.audio.iter().filter(|a| listed(&a.hls)).collect();
        let ids = (
            videos.iter().map(|v| v.id().to_owned()).collect::<Vec<_>>(),
            with_playlist
                .iter()
                .map(|a| a.id.clone())
                .collect::<Vec<_>>(),
        );
        if self.multivariant_names.as_ref() == Some(&ids) {
            return Ok(None);
        }
        let mut audio_codecs: Vec<String> = Vec::new();
        for audio in &with_playlist {
            if !audio_codecs.contains(&audio.codec_string) {
                audio_codecs.push(audio.codec_string.clone());
            }
        }
        let audio_bandwidth = with_playlist
            .iter()
            .map(|a| u64::from(a.track.bandwidth))
            .max()
            .unwrap_or(0);
        let renditions = with_playlist
            .iter()
            .enumerate()
            .map(|(index, audio)| AudioRendition {
                group_id: AUDIO_GROUP.to_owned(),
                name: audio.id.clone(),
                uri: audio.playlist_name(),
                channels: audio.track.config.channel_count(),
                default: index == 0,
            })
            .collect();
        let rate = self.config.grid.rate();
        let variants = videos
            .iter()
            .map(|video| {
                let codecs: Vec<String> = std::iter::once(video.codec_string.clone())
                    .chain(audio_codecs.iter().cloned())
                    .collect();
                Variant {
                    uri: playlist_name(video.id()),
                    bandwidth: u64::from(video.input.bandwidth) + audio_bandwidth,
                    // RFC 8216 §4.3.4.2: the average of the variant's media, audio included.
                    average_bandwidth: video
                        .input
                        .average_bandwidth
                        .map(|average| u64::from(average) + audio_bandwidth),
                    codecs: codecs.join(","),
                    resolution: Some((
                        u32::from(video.track().width),
                        u32::from(video.track().height),
                    )),
                    frame_rate: Some(rate),
                    audio_group: (!with_playlist.is_empty()).then(|| AUDIO_GROUP.to_owned()),
                }
            })
            .collect();
        let multivariant = MultivariantPlaylist::new(version, true, variants)
            .and_then(|playlist| playlist.with_audio(renditions))
            .map_err(|e| PublishError::Config(e.to_string()))?;
        self.destination
            .write(MULTIVARIANT_PLAYLIST, multivariant.render().as_bytes())?;
        self.multivariant_names = Some(ids);
        Ok(Some(MULTIVARIANT_PLAYLIST.to_owned()))
    }
}
