"""Media capture: yt-dlp behind the recording proxy, and why a post could not be had."""
