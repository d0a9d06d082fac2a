"""Readers for the real camera data SS3D-ROS consumes: video files, image folders and TUM-layout sequences."""
