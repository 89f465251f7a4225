#version 330 core
// Colour grade: hue rotation, saturation and contrast, with a small brightness lift on the beat.
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_pulse;
uniform float u_hue = 0.0;        // @param 0..1 hue rotation, in turns of the colour wheel
uniform float u_saturation = 1.3; // @param 0..2 colour saturation (0 = grey, 1 = as is)
uniform float u_contrast = 1.4;   // @param 0..2 contrast around mid grey (1 = as is)
uniform float u_lift = 0.35;      // @param 0..1 brightness lift on the beat

const float TAU = 6.28318530718;

// Hue rotation about the grey axis (Rodrigues' formula), exact and branch-free.
vec3 rotate_hue(vec3 c, float turns) {
    vec3 k = vec3(0.57735);
    float a = TAU * turns;
    return c * cos(a) + cross(k, c) * sin(a) + k * dot(k, c) * (1.0 - cos(a));
}

void main() {
    vec3 c = rotate_hue(texture(u_image, v_uv).rgb, u_hue);
    float luma = dot(c, vec3(0.2126, 0.7152, 0.0722));
    c = mix(vec3(luma), c, u_saturation);
    c = (c - 0.5) * u_contrast + 0.5;
    c *= 1.0 + u_lift * u_pulse;
    f_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}
