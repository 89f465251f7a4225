#version 330 core
// Zoom punch: the picture jumps towards the viewer on every beat and eases back, harder on
// the downbeat.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_pulse;
uniform float u_bar_phase;
uniform float u_amount = 1.0;  // @param 0..1 how strong the effect is
uniform float u_depth = 0.12;  // @param 0..0.5 zoom at full punch (0.12 = 12% closer)
uniform float u_downbeat = 1.5; // @param 1..3 how much harder the downbeat punches

void main() {
    float accent = u_bar_phase < 0.25 ? u_downbeat : 1.0;
    float zoom = 1.0 - clamp(u_amount * u_depth * u_pulse * accent, 0.0, 0.9);
    vec2 uv = 0.5 + (v_uv - 0.5) * zoom;
    f_color = vec4(texture(u_image, uv).rgb, 1.0);
}
