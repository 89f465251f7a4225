#version 330 core
// Beat pulse: a short brightness and zoom punch on every beat, stronger on the downbeat,
// plus an onset flash and a soft vignette that breathes with the low band.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_pulse;      // 1 on the beat, decays to 0 over the beat
uniform float u_bar_phase;  // 0..1 across the bar
uniform float u_onset;      // onset envelope 0..1
uniform float u_low;        // low band energy 0..1
uniform float u_amount = 1.0; // @param 0..1 how strong the effect is

void main() {
    float downbeat = u_bar_phase < 0.25 ? 1.0 : 0.6;
    float punch = u_amount * u_pulse * downbeat;
    vec2 centred = v_uv - 0.5;
    vec2 uv = 0.5 + centred * (1.0 - 0.06 * punch);
    vec3 colour = texture(u_image, uv).rgb;
    colour *= 1.0 + 0.55 * punch + 0.25 * u_amount * u_onset;
    float vignette = smoothstep(0.85, 0.25 - 0.1 * u_low, length(centred));
    f_color = vec4(colour * mix(0.55, 1.0, vignette), 1.0);
}
