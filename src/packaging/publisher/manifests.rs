// SPDX-License-Identifier: MPL-2.0
//! Writing the manifests: HLS media and multivariant playlists, the DASH MPD, the storage
//! indexes.

use super::super::SegmentFact;
use super::super::dash::MpdKind;
use super::super::hls::{AudioRendition, MultivariantPlaylist, PlaylistType, Variant};

use super::*;

impl<D: AsRef<[u8]>> Publisher<D> {
    pub(super) fn write_manifests(
        &mut self,
        k: i64,
        ended: bool,
    ) -> Result<Vec<String>, PublishError> {
        let mut names = Vec::new();
        if let Some(hls) = &self.hls
            && hls.last_k().is_some()
        {
            let playlist = hls
                .playlist_at(k)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            self.destination
                .write(MEDIA_PLAYLIST, playlist.render().as_bytes())?;
            names.push(MEDIA_PLAYLIST.to_owned());
            for audio in &self.audio {
                // A track with nothing listed yet has no playlist to write.
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
            // The multivariant playlist, after the media playlists it names: audio tracks with
            // a playlist of their own (something listed).
            let with_playlist: Vec<&AudioOutput<D>> = self
                .audio
                .iter()
                .filter(|a| a.hls.as_ref().is_some_and(|h| h.last_k().is_some()))
                .collect();
            let ids: Vec<String> = with_playlist.iter().map(|a| a.id.clone()).collect();
            if self.multivariant_audio.as_ref() != Some(&ids) {
                let grid = self.config.grid;
                let mut codecs = vec![self.codec_string.clone()];
                for audio in &with_playlist {
                    if !codecs.contains(&audio.codec_string) {
                        codecs.push(audio.codec_string.clone());
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
                let multivariant = MultivariantPlaylist::new(
                    playlist.version(),
                    true,
                    vec![Variant {
                        uri: MEDIA_PLAYLIST.to_owned(),
                        bandwidth: u64::from(self.config.bandwidth) + audio_bandwidth,
                        average_bandwidth: None,
                        codecs: codecs.join(","),
                        resolution: Some((
                            u32::from(self.config.track.width),
                            u32::from(self.config.track.height),
                        )),
                        frame_rate: Some(grid.rate()),
                        audio_group: (!with_playlist.is_empty()).then(|| AUDIO_GROUP.to_owned()),
                    }],
                )
                .and_then(|playlist| playlist.with_audio(renditions))
                .map_err(|e| PublishError::Config(e.to_string()))?;
                self.destination
                    .write(MULTIVARIANT_PLAYLIST, multivariant.render().as_bytes())?;
                self.multivariant_audio = Some(ids);
                names.push(MULTIVARIANT_PLAYLIST.to_owned());
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
        for files in std::iter::once(&self.video_files).chain(self.audio.iter().map(|a| &a.files)) {
            if let Some(storage) = &files.storage {
                self.destination
                    .write(&files.storage_name, storage.render().as_bytes())?;
                names.push(files.storage_name.clone());
            }
        }
        Ok(names)
    }
}
