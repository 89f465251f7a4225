#version 330 core
// Pixelate: square cells that get coarser on every onset.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform vec2 u_resolution;
uniform float u_onset;
uniform float u_cells = 64.0; // @param 4..512 cells across the width when the music is calm
uniform float u_amount = 0.6; // @param 0..1 how much an onset coarsens the cells

void main() {
    float across = max(2.0, u_cells * (1.0 - 0.9 * u_amount * u_onset));
    vec2 cells = vec2(across, across * u_resolution.y / max(u_resolution.x, 1.0));
    vec2 uv = (floor(v_uv * cells) + 0.5) / cells;
    f_color = vec4(texture(u_image, uv).rgb, 1.0);
}
